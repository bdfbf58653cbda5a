package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	storageplugin "github.com/pluggd/pluggd/core/driver/storage/plugin"
)

// Health checking and relaunch timing.
const (
	pingInterval     = 10 * time.Second
	pingTimeout      = 5 * time.Second
	pingFailures     = 3 // consecutive failed pings before the host kills a live but mute plugin
	relaunchMinDelay = 100 * time.Millisecond
	relaunchMaxDelay = 30 * time.Second
	// exitGrace is how long a call that failed on the wire waits for the
	// process's exit to be seen, to tell "plugin died" from other wire
	// errors in the log.
	exitGrace = 500 * time.Millisecond
)

// StorageConfig says how to run one storage driver plugin.
type StorageConfig struct {
	Name    string   // configured driver name, e.g. "overlay" (for logs and errors)
	Binary  string   // absolute path of the plugin binary
	Home    string   // <daemon root>/<name>; the host creates it (0700)
	Options []string // "key=value"
}

// Storage is a storage driver running in a plugin process. It implements
// storage.Driver; when the process dies the host relaunches it (same
// configuration, new negotiation and Init) and replays outstanding Gets
// unless the driver counts references itself.
type Storage struct {
	host *Host
	cfg  StorageConfig
	log  *slog.Logger

	mu      sync.Mutex
	proc    *process // nil while down
	drv     *storageplugin.Client
	info    storage.Info
	lastErr error         // why the plugin is down
	running bool          // a relaunch attempt is under way
	changed chan struct{} // closed and replaced on every state change
	refs    map[string]getRef
	closed  bool

	stop context.CancelFunc
	done chan struct{}
}

type getRef struct {
	n    int
	opts storage.GetOptions
}

var _ storage.Driver = (*Storage)(nil)

// StartStorage starts cfg's plugin, negotiates the contract version and
// initialises the driver. A plugin that speaks another contract version or
// whose driver refuses to start (storage.ErrNotSupported and the like) is
// an error carrying the plugin's reason, and no process is left behind.
func (h *Host) StartStorage(ctx context.Context, cfg StorageConfig) (*Storage, error) {
	if cfg.Name == "" || !filepath.IsAbs(cfg.Binary) || !filepath.IsAbs(cfg.Home) {
		return nil, fmt.Errorf("storage driver %q: name, absolute binary path and absolute home are required", cfg.Name)
	}
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return nil, fmt.Errorf("storage driver %q: %w", cfg.Name, err)
	}
	if err := os.Chmod(cfg.Home, 0o700); err != nil {
		return nil, fmt.Errorf("storage driver %q: %w", cfg.Name, err)
	}
	s := &Storage{
		host:    h,
		cfg:     cfg,
		log:     h.log.With("plugin", cfg.Name, "kind", pluginrpc.KindStorage),
		changed: make(chan struct{}),
		refs:    map[string]getRef{},
		done:    make(chan struct{}),
	}
	proc, drv, info, err := s.launch(ctx)
	if err != nil {
		return nil, err
	}
	s.proc, s.drv, s.info = proc, drv, info
	if err := h.add(s); err != nil {
		proc.kill()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.supervise(sctx)
	s.log.Info("storage driver started", "driver", info.Name, "version", info.Version, "pid", proc.pid)
	return s, nil
}

// launch starts a process and runs the negotiation and Init on it.
func (s *Storage) launch(ctx context.Context) (*process, *storageplugin.Client, storage.Info, error) {
	proc, err := s.host.startProcess(ctx, launchSpec{
		kind:    pluginrpc.KindStorage,
		name:    s.cfg.Name,
		binary:  s.cfg.Binary,
		major:   storage.ProtocolMajor,
		plugins: storageplugin.VersionedPlugins(nil, nil),
		log:     s.log,
	})
	if err != nil {
		return nil, nil, storage.Info{}, fmt.Errorf("storage driver %q: %w", s.cfg.Name, err)
	}
	drv, ok := proc.raw.(*storageplugin.Client)
	if !ok {
		proc.kill()
		return nil, nil, storage.Info{}, fmt.Errorf("storage driver %q: plugin dispensed %T", s.cfg.Name, proc.raw)
	}
	drv.OfferPipeStreams(proc.fds)
	if _, err := drv.Negotiate(ctx, s.cfg.Binary); err != nil {
		proc.kill()
		return nil, nil, storage.Info{}, fmt.Errorf("storage driver %q: %w", s.cfg.Name, err)
	}
	info, err := drv.Init(ctx, storage.InitOptions{
		Home:                s.cfg.Home,
		Options:             s.cfg.Options,
		DaemonProtocolMinor: storage.ProtocolMinor,
	})
	if err != nil {
		proc.kill()
		return nil, nil, storage.Info{}, fmt.Errorf("storage driver %q failed to start: %w", s.cfg.Name, err)
	}
	return proc, drv, info, nil
}

// Info returns the driver's Info as Init reported it (at the last
// relaunch), without a call: the contract says the daemon caches it. It
// has storage.Driver's signature so that *Storage is a storage.Driver; the
// error is always nil.
func (s *Storage) Info(context.Context) (storage.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info, nil
}

// Pid returns the pid of the current plugin process, or 0 while it is
// down.
func (s *Storage) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// notify wakes everything waiting for a state change; s.mu is held.
func (s *Storage) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// supervise waits for the process to exit or to stop answering pings,
// and relaunches it with exponential backoff until it runs again or the
// host shuts down.
func (s *Storage) supervise(ctx context.Context) {
	defer close(s.done)
	for {
		s.mu.Lock()
		proc := s.proc
		s.mu.Unlock()
		if !s.watch(ctx, proc) {
			return
		}
		s.log.Error("storage plugin exited; relaunching", "pid", proc.pid)
		s.mu.Lock()
		s.proc, s.drv = nil, nil
		s.lastErr = fmt.Errorf("plugin process %d exited", proc.pid)
		s.running = true
		s.notify()
		s.mu.Unlock()
		proc.kill() // reap and release go-plugin's resources

		delay := relaunchMinDelay
		for {
			newProc, drv, info, err := s.launch(ctx)
			s.mu.Lock()
			if err == nil {
				s.proc, s.drv, s.info, s.lastErr = newProc, drv, info, nil
				s.running = false
				s.notify()
				s.mu.Unlock()
				s.log.Info("storage plugin relaunched", "pid", newProc.pid)
				s.replayGets(ctx, drv, info)
				break
			}
			s.lastErr = err
			s.running = false
			s.notify()
			s.mu.Unlock()
			s.log.Error("relaunching storage plugin failed", "error", err, "retry_in", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, relaunchMaxDelay)
			s.mu.Lock()
			s.running = true
			s.notify()
			s.mu.Unlock()
		}
	}
}

// watch returns true when proc exited (or was killed for not answering),
// false when ctx ended.
func (s *Storage) watch(ctx context.Context, proc *process) bool {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return false
		case <-proc.exited:
			return true
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := proc.ping(pctx)
			cancel()
			if err == nil || ctx.Err() != nil {
				failures = 0
				continue
			}
			failures++
			s.log.Warn("storage plugin did not answer its health check", "pid", proc.pid, "error", err, "failures", failures)
			if failures >= pingFailures {
				s.log.Error("killing unresponsive storage plugin", "pid", proc.pid)
				proc.kill()
				return true
			}
		}
	}
}

// replayGets takes again, in a relaunched plugin, the references Gets took
// in the dead one, so that paths the daemon handed out are mounted again
// and later Puts balance. A driver that reports ReferenceCounted keeps
// its counts itself.
func (s *Storage) replayGets(ctx context.Context, drv *storageplugin.Client, info storage.Info) {
	if info.Capabilities.ReferenceCounted {
		return
	}
	s.mu.Lock()
	refs := make(map[string]getRef, len(s.refs))
	for id, r := range s.refs {
		refs[id] = r
	}
	s.mu.Unlock()
	for id, r := range refs {
		for range r.n {
			if _, err := drv.Get(ctx, id, r.opts); err != nil {
				s.log.Error("replaying Get after relaunch failed", "id", id, "error", err)
				break
			}
		}
	}
}

// acquire returns the live driver client, waiting for a relaunch that is
// under way; while the plugin is down and no attempt runs it returns an
// UnavailableError carrying the last failure.
func (s *Storage) acquire(ctx context.Context, op string) (*process, *storageplugin.Client, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, nil, s.unavailable(op, errors.New("the plugin host is shut down"))
		}
		proc, drv, running, lastErr, changed := s.proc, s.drv, s.running, s.lastErr, s.changed
		s.mu.Unlock()
		switch {
		case proc != nil && !proc.hasExited():
			return proc, drv, nil
		case proc == nil && !running:
			return nil, nil, s.unavailable(op, lastErr)
		}
		// The process exited and the supervisor is catching up, or a
		// relaunch is under way: wait for its outcome.
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func (s *Storage) unavailable(op string, err error) error {
	return &UnavailableError{Kind: pluginrpc.KindStorage, Name: s.cfg.Name, Op: op, Err: err}
}

// wireErr turns an error from a call on proc into what the caller sees: a
// failure of the connection becomes an UnavailableError.
func (s *Storage) wireErr(ctx context.Context, op string, proc *process, err error) error {
	if err == nil || ctx.Err() != nil || !pluginrpc.IsTransport(err) {
		return err
	}
	select {
	case <-proc.exited:
		return s.unavailable(op, fmt.Errorf("plugin process %d died during the call: %w", proc.pid, err))
	case <-time.After(exitGrace):
		return s.unavailable(op, err)
	}
}

// call runs f on the live driver. A read-only call that failed because
// the process died before answering is retried once on the relaunched
// process, so that a call right after a crash does not fail needlessly.
func call[T any](ctx context.Context, s *Storage, op string, readOnly bool, f func(*storageplugin.Client) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		proc, drv, err := s.acquire(ctx, op)
		if err != nil {
			var zero T
			return zero, err
		}
		v, err := f(drv)
		err = s.wireErr(ctx, op, proc, err)
		if readOnly && attempt == 0 && errors.Is(err, ErrUnavailable) && proc.hasExited() {
			continue
		}
		return v, err
	}
}

func (s *Storage) shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.notify()
	s.mu.Unlock()
	s.stop()
	<-s.done

	s.mu.Lock()
	proc, drv := s.proc, s.drv
	s.proc, s.drv = nil, nil
	s.mu.Unlock()
	if proc == nil {
		return nil
	}
	var err error
	if !proc.hasExited() {
		if cerr := drv.Cleanup(ctx); cerr != nil {
			err = fmt.Errorf("storage driver %q: cleanup: %w", s.cfg.Name, cerr)
		}
	}
	proc.kill()
	s.log.Info("storage plugin stopped", "pid", proc.pid)
	return err
}

// The storage.Driver methods.

func (s *Storage) Create(ctx context.Context, id, parent string, opts storage.CreateOptions) error {
	_, err := call(ctx, s, "Create", false, func(d *storageplugin.Client) (struct{}, error) {
		return struct{}{}, d.Create(ctx, id, parent, opts)
	})
	return err
}

func (s *Storage) Remove(ctx context.Context, id string) error {
	_, err := call(ctx, s, "Remove", false, func(d *storageplugin.Client) (struct{}, error) {
		return struct{}{}, d.Remove(ctx, id)
	})
	if err == nil {
		s.mu.Lock()
		delete(s.refs, id)
		s.mu.Unlock()
	}
	return err
}

func (s *Storage) Get(ctx context.Context, id string, opts storage.GetOptions) (string, error) {
	path, err := call(ctx, s, "Get", false, func(d *storageplugin.Client) (string, error) { return d.Get(ctx, id, opts) })
	if err == nil {
		s.mu.Lock()
		r := s.refs[id]
		r.n++
		r.opts = opts
		s.refs[id] = r
		s.mu.Unlock()
	}
	return path, err
}

func (s *Storage) Put(ctx context.Context, id string) error {
	_, err := call(ctx, s, "Put", false, func(d *storageplugin.Client) (struct{}, error) {
		return struct{}{}, d.Put(ctx, id)
	})
	if err == nil {
		s.mu.Lock()
		if r, ok := s.refs[id]; ok {
			r.n--
			if r.n <= 0 {
				delete(s.refs, id)
			} else {
				s.refs[id] = r
			}
		}
		s.mu.Unlock()
	}
	return err
}

func (s *Storage) Exists(ctx context.Context, id string) (bool, error) {
	return call(ctx, s, "Exists", true, func(d *storageplugin.Client) (bool, error) { return d.Exists(ctx, id) })
}

func (s *Storage) Status(ctx context.Context) ([]storage.StatusPair, error) {
	return call(ctx, s, "Status", true, func(d *storageplugin.Client) ([]storage.StatusPair, error) { return d.Status(ctx) })
}

func (s *Storage) Cleanup(ctx context.Context) error {
	_, err := call(ctx, s, "Cleanup", false, func(d *storageplugin.Client) (struct{}, error) {
		return struct{}{}, d.Cleanup(ctx)
	})
	return err
}

func (s *Storage) Changes(ctx context.Context, id, parent string) ([]storage.Change, error) {
	return call(ctx, s, "Changes", true, func(d *storageplugin.Client) ([]storage.Change, error) { return d.Changes(ctx, id, parent) })
}

func (s *Storage) DiffSize(ctx context.Context, id, parent string) (int64, error) {
	return call(ctx, s, "DiffSize", true, func(d *storageplugin.Client) (int64, error) { return d.DiffSize(ctx, id, parent) })
}

func (s *Storage) ApplyDiff(ctx context.Context, id, parent string, diff io.Reader) (int64, error) {
	return call(ctx, s, "ApplyDiff", false, func(d *storageplugin.Client) (int64, error) { return d.ApplyDiff(ctx, id, parent, diff) })
}

// Diff's stream outlives the call, so its reads get the same treatment:
// the plugin dying mid-stream is an UnavailableError from Read.
func (s *Storage) Diff(ctx context.Context, id, parent string) (io.ReadCloser, error) {
	var proc *process
	rc, err := call(ctx, s, "Diff", true, func(d *storageplugin.Client) (io.ReadCloser, error) {
		s.mu.Lock()
		proc = s.proc
		s.mu.Unlock()
		return d.Diff(ctx, id, parent)
	})
	if err != nil {
		return nil, err
	}
	return &diffReader{ReadCloser: rc, ctx: ctx, s: s, proc: proc}, nil
}

type diffReader struct {
	io.ReadCloser
	ctx  context.Context
	s    *Storage
	proc *process
}

func (r *diffReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF && r.proc != nil {
		err = r.s.wireErr(r.ctx, "Diff", r.proc, err)
	}
	return n, err
}

package driver

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	storageplugin "github.com/pluggd/pluggd/core/driver/storage/plugin"
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
	*slot[*storageplugin.Client, storage.Info]
	host *Host
	cfg  StorageConfig
	log  *slog.Logger
	refs map[string]getRef // guarded by slot.mu
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
	if err := prepare(pluginrpc.KindStorage, cfg.Name, cfg.Binary, cfg.Home); err != nil {
		return nil, err
	}
	s := &Storage{
		host: h,
		cfg:  cfg,
		log:  h.log.With("plugin", cfg.Name, "kind", pluginrpc.KindStorage),
		refs: map[string]getRef{},
	}
	s.slot = &slot[*storageplugin.Client, storage.Info]{
		kind:       pluginrpc.KindStorage,
		name:       cfg.Name,
		log:        s.log,
		launch:     s.launch,
		relaunched: s.replayGets,
	}
	if err := s.slot.start(ctx); err != nil {
		return nil, err
	}
	if err := h.add(s.shutdown); err != nil {
		s.slot.shutdown(nil)
		return nil, err
	}
	info := s.cachedInfo()
	s.log.Info("storage driver started", "driver", info.Name, "version", info.Version, "pid", s.Pid())
	return s, nil
}

// launch starts a process and runs the negotiation and Init on it.
func (s *Storage) launch(ctx context.Context) (*process, *storageplugin.Client, storage.Info, error) {
	proc, err := s.host.startProcess(ctx, launchSpec{
		kind:      pluginrpc.KindStorage,
		name:      s.cfg.Name,
		binary:    s.cfg.Binary,
		major:     storage.ProtocolMajor,
		plugins:   storageplugin.VersionedPlugins(nil, nil),
		log:       s.log,
		fdChannel: true,
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
func (s *Storage) Info(context.Context) (storage.Info, error) { return s.cachedInfo(), nil }

// Pid returns the pid of the current plugin process, or 0 while it is
// down.
func (s *Storage) Pid() int { return s.pid() }

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

func (s *Storage) shutdown(ctx context.Context) error {
	return s.slot.shutdown(func(drv *storageplugin.Client) error {
		if err := drv.Cleanup(ctx); err != nil {
			return fmt.Errorf("storage driver %q: cleanup: %w", s.cfg.Name, err)
		}
		return nil
	})
}

// The storage.Driver methods.

func (s *Storage) Create(ctx context.Context, id, parent string, opts storage.CreateOptions) error {
	_, err := call(ctx, s.slot, "Create", false, func(d *storageplugin.Client) (struct{}, error) {
		return struct{}{}, d.Create(ctx, id, parent, opts)
	})
	return err
}

func (s *Storage) Remove(ctx context.Context, id string) error {
	_, err := call(ctx, s.slot, "Remove", false, func(d *storageplugin.Client) (struct{}, error) {
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
	path, err := call(ctx, s.slot, "Get", false, func(d *storageplugin.Client) (string, error) { return d.Get(ctx, id, opts) })
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
	_, err := call(ctx, s.slot, "Put", false, func(d *storageplugin.Client) (struct{}, error) {
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
	return call(ctx, s.slot, "Exists", true, func(d *storageplugin.Client) (bool, error) { return d.Exists(ctx, id) })
}

func (s *Storage) Status(ctx context.Context) ([]storage.StatusPair, error) {
	return call(ctx, s.slot, "Status", true, func(d *storageplugin.Client) ([]storage.StatusPair, error) { return d.Status(ctx) })
}

func (s *Storage) Cleanup(ctx context.Context) error {
	_, err := call(ctx, s.slot, "Cleanup", false, func(d *storageplugin.Client) (struct{}, error) {
		return struct{}{}, d.Cleanup(ctx)
	})
	return err
}

func (s *Storage) Changes(ctx context.Context, id, parent string) ([]storage.Change, error) {
	return call(ctx, s.slot, "Changes", true, func(d *storageplugin.Client) ([]storage.Change, error) { return d.Changes(ctx, id, parent) })
}

func (s *Storage) DiffSize(ctx context.Context, id, parent string) (int64, error) {
	return call(ctx, s.slot, "DiffSize", true, func(d *storageplugin.Client) (int64, error) { return d.DiffSize(ctx, id, parent) })
}

func (s *Storage) ApplyDiff(ctx context.Context, id, parent string, diff io.Reader) (int64, error) {
	return call(ctx, s.slot, "ApplyDiff", false, func(d *storageplugin.Client) (int64, error) { return d.ApplyDiff(ctx, id, parent, diff) })
}

// Diff's stream outlives the call, so its reads get the same treatment:
// the plugin dying mid-stream is an UnavailableError from Read.
func (s *Storage) Diff(ctx context.Context, id, parent string) (io.ReadCloser, error) {
	var proc *process
	rc, err := call(ctx, s.slot, "Diff", true, func(d *storageplugin.Client) (io.ReadCloser, error) {
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

package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/events"
	"github.com/pluggd/pluggd/core/image"
)

// imageGetter is what containers need from the image store.
type imageGetter interface {
	Get(ctx context.Context, name string) (*image.Record, error)
}

// ContainersOptions configure the container service.
type ContainersOptions struct {
	// Root holds one directory per container (<daemon root>/containers).
	Root    string
	Images  imageGetter
	Storage storage.Driver
	// Exec runs the containers. Nil is allowed (create, inspect, list and
	// remove work without one); starting then fails as Unavailable.
	Exec   exec.Driver
	Logger *slog.Logger
	// Events receives the container events; nil logs none.
	Events *events.Log
	// HostResolvConf is the host's resolver configuration, copied into
	// each container; "" means /etc/resolv.conf.
	HostResolvConf string
}

// Containers is the container lifecycle: create, start, stop, kill, wait,
// remove, logs and attach, and the monitors that record exits. Its
// methods are the containers router's Backend.
type Containers struct {
	store       *container.Store
	images      imageGetter
	storage     storage.Driver
	storageName string
	exec        exec.Driver
	execInfo    exec.Info
	log         *slog.Logger
	resolvConf  string
	events      *events.Log

	// ctx ends at Close: it stops the monitors, not the containers,
	// which outlive the daemon (their supervisors keep them).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	live map[string]*live

	// execs are the exec instances by exec id (container_exec.go).
	execMu sync.Mutex
	execs  map[string]*execInstance
}

// live is the runtime side of a container, never persisted. op serializes
// the operations that change a container's lifecycle (start, stop's kill,
// remove); the other fields are guarded by the container's lock.
type live struct {
	op sync.Mutex

	sup     *supervisor.Client // set from Create until the exit is recorded
	mounted bool               // a storage Get of the container layer is held
	// monitorDone is closed when the monitor of the current run has
	// recorded its exit; nil before the first start.
	monitorDone chan struct{}
	// waiters are attach requests waiting for the next start.
	waiters []*attachWaiter
	removed bool
}

// attachWaiter is an attach request that arrived while the container was
// not running: start hands it the supervisor after Create and waits for it
// to attach before Start, so it loses no output (exec doc, "Lifecycle").
type attachWaiter struct {
	sup      chan *supervisor.Client // buffered: receives the supervisor, or closed on removal
	attached chan struct{}           // closed by the waiter once attached (or given up)
}

// NewContainers opens the container store and restores the containers a
// previous daemon left: live ones are monitored again, the others get the
// exit status their supervisor recorded.
func NewContainers(ctx context.Context, opts ContainersOptions) (*Containers, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := container.Open(opts.Root, log)
	if err != nil {
		return nil, err
	}
	sinfo, err := opts.Storage.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage driver info: %w", err)
	}
	s := &Containers{
		store:       st,
		images:      opts.Images,
		storage:     opts.Storage,
		storageName: sinfo.Name,
		exec:        opts.Exec,
		log:         log,
		resolvConf:  opts.HostResolvConf,
		events:      opts.Events,
		live:        map[string]*live{},
		execs:       map[string]*execInstance{},
	}
	if s.resolvConf == "" {
		s.resolvConf = "/etc/resolv.conf"
	}
	if s.exec != nil {
		if s.execInfo, err = s.exec.Info(ctx); err != nil {
			return nil, fmt.Errorf("exec driver info: %w", err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.restore(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the monitors. Running containers keep running; a later
// daemon restores them.
func (s *Containers) Close() {
	s.cancel()
	s.wg.Wait()
}

// ExecDriverName is /info's ExecutionDriver: the running driver's name
// ("native-0.2"), "" without one.
func (s *Containers) ExecDriverName() string { return s.execInfo.Name }

// Counts returns the number of containers (for /info's Containers).
func (s *Containers) Count() int { return s.store.Len() }

// ImageUsers lists every container's image, for the image store's Delete
// (Docker 1.7 refused to delete an image a container uses).
func (s *Containers) ImageUsers(ctx context.Context) ([]image.ImageUser, error) {
	var out []image.ImageUser
	for _, c := range s.store.List() {
		c.Lock()
		out = append(out, image.ImageUser{ContainerID: c.ID, ImageID: c.Image, Running: c.State.Running})
		c.Unlock()
	}
	return out, nil
}

// get finds a container and its runtime side.
func (s *Containers) get(ref string) (*container.Container, *live, error) {
	c, err := s.store.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	return c, s.liveOf(c.ID), nil
}

func (s *Containers) liveOf(id string) *live {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.live[id]
	if l == nil {
		l = &live{}
		s.live[id] = l
	}
	return l
}

// waitStopped waits until c is not running, for at most timeout (negative:
// no limit). It reports whether c stopped.
func waitStopped(ctx context.Context, c *container.Container, timeout time.Duration) (bool, error) {
	var deadline <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for {
		c.Lock()
		running := c.State.Running
		ch := c.Changed()
		c.Unlock()
		if !running {
			return true, nil
		}
		select {
		case <-ch:
		case <-deadline:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// errNoExecDriver is returned by operations that need an exec driver when
// the daemon runs without one.
var errNoExecDriver = errdefs.Unavailable(errors.New("no execution driver is running"))

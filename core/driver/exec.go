package driver

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/pluggd/pluggd/core/driver/exec"
	execplugin "github.com/pluggd/pluggd/core/driver/exec/plugin"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
)

// ExecConfig says how to run one execution driver plugin.
type ExecConfig struct {
	Name   string // configured driver name, e.g. "native" (for logs and errors)
	Binary string // absolute path of the plugin binary
	// Root is <exec_root>/<name>, the driver's state directory; the host
	// creates it (0700). Supervisor sockets live below it, so keep it
	// short (unix socket paths are limited to 108 bytes).
	Root    string
	Options []string // "key=value"
}

// Exec is an execution driver running in a plugin process. It implements
// exec.Driver; when the process dies the host relaunches it (same
// configuration, new negotiation and Init) and calls the driver's Restore
// once so that it picks its containers up again.
//
// Killing or stopping the plugin process never touches containers: the
// host signals the plugin's pid only, and the plugin's supervisors run in
// their own sessions without a parent-death signal (the supervisor
// package's Spawn sees to that; a driver must not undo it).
type Exec struct {
	*slot[*execplugin.Client, exec.Info]
	cfg ExecConfig
	log *slog.Logger
}

var (
	_ exec.Driver = (*Exec)(nil)
	_ exec.Execer = (*Exec)(nil)
)

// StartExec starts cfg's plugin, negotiates the contract version and
// initialises the driver. A plugin that speaks another contract version or
// whose driver refuses to start is an error carrying the plugin's reason,
// and no process is left behind. The caller calls Restore itself to learn
// the containers that survived a daemon restart.
func (h *Host) StartExec(ctx context.Context, cfg ExecConfig) (*Exec, error) {
	if err := prepare(pluginrpc.KindExec, cfg.Name, cfg.Binary, cfg.Root); err != nil {
		return nil, err
	}
	e := &Exec{cfg: cfg, log: h.log.With("plugin", cfg.Name, "kind", pluginrpc.KindExec)}
	e.slot = &slot[*execplugin.Client, exec.Info]{
		kind: pluginrpc.KindExec,
		name: cfg.Name,
		log:  e.log,
		launch: func(ctx context.Context) (*process, *execplugin.Client, exec.Info, error) {
			return e.launch(ctx, h)
		},
		relaunched: e.restore,
	}
	if err := e.slot.start(ctx); err != nil {
		return nil, err
	}
	if err := h.add(e.shutdown); err != nil {
		e.slot.shutdown(nil)
		return nil, err
	}
	e.log.Info("exec driver started", "driver", e.cachedInfo().Name, "pid", e.Pid())
	return e, nil
}

// launch starts a process and runs the negotiation and Init on it.
func (e *Exec) launch(ctx context.Context, h *Host) (*process, *execplugin.Client, exec.Info, error) {
	proc, err := h.startProcess(ctx, launchSpec{
		kind:    pluginrpc.KindExec,
		name:    e.cfg.Name,
		binary:  e.cfg.Binary,
		major:   exec.ProtocolMajor,
		plugins: execplugin.VersionedPlugins(nil, nil),
		log:     e.log,
	})
	if err != nil {
		return nil, nil, exec.Info{}, fmt.Errorf("exec driver %q: %w", e.cfg.Name, err)
	}
	drv, ok := proc.raw.(*execplugin.Client)
	if !ok {
		proc.kill()
		return nil, nil, exec.Info{}, fmt.Errorf("exec driver %q: plugin dispensed %T", e.cfg.Name, proc.raw)
	}
	if _, err := drv.Negotiate(ctx, e.cfg.Binary); err != nil {
		proc.kill()
		return nil, nil, exec.Info{}, fmt.Errorf("exec driver %q: %w", e.cfg.Name, err)
	}
	info, err := drv.Init(ctx, exec.InitOptions{
		Root:                e.cfg.Root,
		Options:             e.cfg.Options,
		DaemonProtocolMinor: exec.ProtocolMinor,
	})
	if err != nil {
		proc.kill()
		return nil, nil, exec.Info{}, fmt.Errorf("exec driver %q failed to start: %w", e.cfg.Name, err)
	}
	return proc, drv, info, nil
}

// restore runs after a relaunch: the new driver process knows no
// container until Restore has found their supervisors again.
func (e *Exec) restore(ctx context.Context, drv *execplugin.Client, _ exec.Info) {
	states, err := drv.Restore(ctx)
	if err != nil {
		e.log.Error("Restore after relaunch failed", "error", err)
		return
	}
	running := 0
	for _, st := range states {
		if st.Status == exec.StatusRunning || st.Status == exec.StatusPaused {
			running++
		}
	}
	e.log.Info("Restore after relaunch", "containers", len(states), "running", running)
}

// shutdown stops the plugin process and nothing else: the exec contract
// has no Cleanup, and containers outlive the driver.
func (e *Exec) shutdown(context.Context) error { return e.slot.shutdown(nil) }

// Pid returns the pid of the current plugin process, or 0 while it is
// down.
func (e *Exec) Pid() int { return e.pid() }

// Info returns the driver's Info as Init reported it (at the last
// relaunch), without a call: the contract says the daemon caches it. The
// error is always nil.
func (e *Exec) Info(context.Context) (exec.Info, error) { return e.cachedInfo(), nil }

func (e *Exec) Create(ctx context.Context, spec exec.ContainerSpec) (exec.State, error) {
	return call(ctx, e.slot, "Create", false, func(d *execplugin.Client) (exec.State, error) { return d.Create(ctx, spec) })
}

func (e *Exec) Start(ctx context.Context, id string) (exec.State, error) {
	return call(ctx, e.slot, "Start", false, func(d *execplugin.Client) (exec.State, error) { return d.Start(ctx, id) })
}

func (e *Exec) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	_, err := call(ctx, e.slot, "Signal", false, func(d *execplugin.Client) (struct{}, error) {
		return struct{}{}, d.Signal(ctx, id, sig)
	})
	return err
}

func (e *Exec) State(ctx context.Context, id string) (exec.State, error) {
	return call(ctx, e.slot, "State", true, func(d *execplugin.Client) (exec.State, error) { return d.State(ctx, id) })
}

// Restore only reads the driver's state, so it is retried once after a
// relaunch like State.
func (e *Exec) Restore(ctx context.Context) ([]exec.State, error) {
	return call(ctx, e.slot, "Restore", true, func(d *execplugin.Client) ([]exec.State, error) { return d.Restore(ctx) })
}

func (e *Exec) Delete(ctx context.Context, id string) error {
	_, err := call(ctx, e.slot, "Delete", false, func(d *execplugin.Client) (struct{}, error) {
		return struct{}{}, d.Delete(ctx, id)
	})
	return err
}

func (e *Exec) Pause(ctx context.Context, id string) error {
	_, err := call(ctx, e.slot, "Pause", false, func(d *execplugin.Client) (struct{}, error) {
		return struct{}{}, d.Pause(ctx, id)
	})
	return err
}

func (e *Exec) Resume(ctx context.Context, id string) error {
	_, err := call(ctx, e.slot, "Resume", false, func(d *execplugin.Client) (struct{}, error) {
		return struct{}{}, d.Resume(ctx, id)
	})
	return err
}

func (e *Exec) Stats(ctx context.Context, id string) (exec.Stats, error) {
	return call(ctx, e.slot, "Stats", true, func(d *execplugin.Client) (exec.Stats, error) { return d.Stats(ctx, id) })
}

// Exec starts a process in a running container (exec.Execer). It is not
// retried after a relaunch: the process may have started.
func (e *Exec) Exec(ctx context.Context, id string, spec exec.ExecSpec) (exec.ExecState, error) {
	return call(ctx, e.slot, "Exec", false, func(d *execplugin.Client) (exec.ExecState, error) { return d.Exec(ctx, id, spec) })
}

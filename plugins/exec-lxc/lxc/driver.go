package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// record is what the driver keeps in a container's directory
// (supervisor.RecordFile) for its supervisor and its own later calls.
type record struct {
	Spec exec.ContainerSpec
	// Helper is the static binary the supervisor binds into the
	// container (Runtime.Helper); "" when there is none.
	Helper string `json:",omitempty"`
}

// Driver is the LXC execution driver's control plane. Like the native
// driver it holds no container state in memory: everything is in its root
// directory (supervisor.Dirs) and in the supervisors, so a relaunched
// driver carries on.
type Driver struct {
	dirs    supervisor.Dirs
	version string // LXC's, for Info
	// self is the binary re-executed as "self supervise <dir>".
	self string
	// helper is the static binary bound into every container at
	// /dev/.pluggd-init (Runtime.Helper): the tiny init of terminal
	// containers (tty.go) and the exec helper (exec.go). It is self when
	// self is static; "" otherwise, and then the driver offers neither
	// terminals nor exec.
	helper string
}

var (
	_ exec.Driver = (*Driver)(nil)
	_ exec.Execer = (*Driver)(nil)
)

// New is the exec.Factory of the LXC driver. It refuses with a
// NotImplemented error saying why a host without root or without LXC's
// tools (lxc-start).
func New(ctx context.Context, opts exec.InitOptions) (exec.Driver, error) {
	return newDriver(ctx, opts, "/proc/self/exe")
}

func newDriver(ctx context.Context, opts exec.InitOptions, self string) (*Driver, error) {
	if len(opts.Options) > 0 {
		k, _, _ := strings.Cut(opts.Options[0], "=")
		return nil, errdefs.InvalidParameter(fmt.Errorf("lxc exec driver: unknown option %q (it takes none)", k))
	}
	if opts.Root == "" {
		return nil, errdefs.InvalidParameter(errors.New("lxc exec driver: no root directory"))
	}
	if os.Geteuid() != 0 {
		return nil, errdefs.NotImplemented(errors.New("lxc exec driver: needs root"))
	}
	v, err := Version(ctx)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	d := &Driver{dirs: supervisor.Dirs{Root: root}, version: v, self: self}
	if staticBinary(self) {
		// A path the supervisor can bind (self may be /proc/self/exe).
		if d.helper, err = filepath.EvalSymlinks(self); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Info reports Docker 1.7's "lxc-<version>" and what works: LxcConf,
// pause, stats, and terminals and exec when the binary is static (the
// helper: tty.go, exec.go).
func (d *Driver) Info(ctx context.Context) (exec.Info, error) {
	return exec.Info{
		Name:         DriverName(d.version),
		Capabilities: exec.Capabilities{LxcConf: true, Pause: true, Stats: true, Tty: d.helper != "", Exec: d.helper != ""},
	}, nil
}

// Supervise is the body of "<plugin> supervise <dir>": the container's
// supervisor (core/driver/exec/supervisor) with this driver's Runtime.
func Supervise(ctx context.Context, dir string) int {
	var rec record
	if err := supervisor.ReadRecord(dir, &rec); err != nil {
		fmt.Fprintln(os.Stderr, "exec-lxc supervisor:", err)
		return 1
	}
	rt, err := NewRuntime(dir, rec.Spec, HostInfo())
	if err != nil {
		fmt.Fprintln(os.Stderr, "exec-lxc supervisor:", err)
		return 1
	}
	rt.Helper = rec.Helper
	return supervisor.Main(ctx, rt)
}

// validID accepts what LXC accepts as a container name and a directory
// name: letters, digits, "_", "-", ".".
func validID(id string) error {
	if id == "" || id == "." || id == ".." {
		return errdefs.InvalidParameter(fmt.Errorf("invalid container id %q", id))
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_-.", c)) {
			return errdefs.InvalidParameter(fmt.Errorf("invalid container id %q", id))
		}
	}
	return nil
}

// Create writes the spec into the container's directory and spawns its
// supervisor (this binary, "supervise <dir>"), whose Runtime creates the
// container with lxc-start.
func (d *Driver) Create(ctx context.Context, spec exec.ContainerSpec) (exec.State, error) {
	if err := validID(spec.ID); err != nil {
		return exec.State{}, err
	}
	if len(spec.Process.Args) == 0 {
		return exec.State{}, errdefs.InvalidParameter(errors.New("no command specified"))
	}
	if spec.Process.Terminal && d.helper == "" {
		return exec.State{}, errdefs.NotImplemented(errors.New("the lxc exec driver gives containers a terminal only when its binary is static (built with CGO_ENABLED=0); this one is not"))
	}
	// Check what can be checked here, so that a bad spec fails without a
	// supervisor round trip; the Runtime checks again.
	resolved, err := resolveUser(spec)
	if err != nil {
		return exec.State{}, err
	}
	if _, err := Config(resolved, HostInfo()); err != nil {
		return exec.State{}, err
	}
	if err := lookProgram(resolved); err != nil {
		return exec.State{}, err
	}
	dir, err := d.dirs.Create(spec, record{Spec: spec, Helper: d.helper})
	if err != nil {
		return exec.State{}, err
	}
	if err := supervisor.SpawnContainer(ctx, d.self, dir, spec); err != nil {
		// Spawn waited for the supervisor to exit; the Runtime left no
		// cgroup or LXC state behind.
		os.RemoveAll(dir)
		return exec.State{}, err
	}
	return d.state(dir, spec)
}

// Start asks the container's supervisor to open the gate.
func (d *Driver) Start(ctx context.Context, id string) (exec.State, error) {
	dir, spec, err := d.dirs.Lookup(id)
	if err != nil {
		return exec.State{}, err
	}
	st, err := d.state(dir, spec)
	if err != nil {
		return exec.State{}, err
	}
	if err := supervisor.StartIn(ctx, st); err != nil {
		return exec.State{}, err
	}
	return d.state(dir, spec)
}

// Exec runs a process in the running container id through its
// supervisor, whose Runtime runs it with lxc-attach (exec.go).
func (d *Driver) Exec(ctx context.Context, id string, spec exec.ExecSpec) (exec.ExecState, error) {
	dir, cspec, err := d.dirs.Lookup(id)
	if err != nil {
		return exec.ExecState{}, err
	}
	st, err := d.state(dir, cspec)
	if err != nil {
		return exec.ExecState{}, err
	}
	if d.helper == "" {
		return exec.ExecState{}, errdefs.NotImplemented(errors.New("the lxc exec driver runs exec processes only when its binary is static (built with CGO_ENABLED=0); this one is not"))
	}
	return supervisor.ExecIn(ctx, st, spec)
}

// Signal asks the supervisor to signal what it holds as the init,
// lxc-start, which forwards every signal but SIGKILL and SIGSTOP to the
// container's init, the program (SIGKILL kills it and the container with
// it). Going through the supervisor avoids signalling a reused pid.
func (d *Driver) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	dir, spec, err := d.dirs.Lookup(id)
	if err != nil {
		return err
	}
	st, err := d.state(dir, spec)
	if err != nil {
		return err
	}
	if st.Status == exec.StatusStopped || st.Supervisor == "" {
		return errdefs.Conflict(fmt.Errorf("container %s is not running", id))
	}
	c, err := supervisor.Dial(ctx, st.Supervisor)
	if err != nil {
		return errdefs.Conflict(fmt.Errorf("container %s is not running: %w", id, err))
	}
	if err := c.Signal(ctx, sig); err != nil {
		return err
	}
	thawAfterKill(spec, sig)
	return nil
}

// State reports the supervisor's view (identity-checked).
func (d *Driver) State(ctx context.Context, id string) (exec.State, error) {
	dir, spec, err := d.dirs.Lookup(id)
	if err != nil {
		return exec.State{}, err
	}
	return d.state(dir, spec)
}

// state is the supervisor's state, paused when the container's freezer
// says so; its Pid is the container's init, the program
// (Created.ContainerPid), not LXC's monitor.
func (d *Driver) state(dir string, spec exec.ContainerSpec) (exec.State, error) {
	st, err := supervisor.ReadState(dir)
	if err != nil {
		return exec.State{}, err
	}
	st.ID = spec.ID
	if st.Status == exec.StatusRunning && paused(spec) {
		st.Status = exec.StatusPaused
	}
	return st, nil
}

// Restore lists every container in the driver's root.
func (d *Driver) Restore(ctx context.Context) ([]exec.State, error) {
	return d.dirs.Restore(ctx, func(dir, id string) (exec.State, error) {
		_, spec, err := d.dirs.Lookup(id)
		if err != nil {
			return exec.State{}, err
		}
		return d.state(dir, spec)
	})
}

// Delete removes a stopped container's directory, and its cgroups and
// LXC's files when its supervisor died without destroying them.
func (d *Driver) Delete(ctx context.Context, id string) error {
	dir, spec, err := d.dirs.Lookup(id)
	if err != nil {
		return err
	}
	st, err := d.state(dir, spec)
	if err != nil {
		return err
	}
	if st.Status == exec.StatusCreated {
		// The contract forbids deleting only running and paused
		// containers: a created one is discarded here, killed through
		// its supervisor.
		if err := d.Signal(ctx, id, syscall.SIGKILL); err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("discard created container %s: %w", id, err)
		}
		if st, err = supervisor.WaitGone(ctx, func() (exec.State, error) { return d.state(dir, spec) }); err != nil {
			return err
		}
	}
	if st.Status != exec.StatusStopped {
		return errdefs.Conflict(fmt.Errorf("cannot delete container %s: it is %s", id, st.Status))
	}
	rt := &Runtime{dir: dir, spec: spec}
	if err := rt.cleanup(); err != nil {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return os.RemoveAll(dir)
}

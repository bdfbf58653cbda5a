package native

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Name is what /info's ExecutionDriver shows: Docker 1.7's native driver
// name, so that constraints written for Docker 1.7 hosts still match.
const Name = "native-0.2"

// Driver is the native execution driver's control plane. It holds no
// container state in memory: everything is in its root directory and in
// the supervisors, so a relaunched driver carries on where one left off.
type Driver struct {
	dirs supervisor.Dirs
	host hostInfo
	// self is the binary re-executed as "self supervise <dir>".
	self string
}

var (
	_ exec.Driver = (*Driver)(nil)
	_ exec.Execer = (*Driver)(nil)
)

// New is the exec.Factory of the native driver. It refuses, with a
// NotImplemented error saying why, a host without what it needs: root,
// mounted cgroups (v1 or v2) and the mnt, uts, ipc, pid and net namespaces.
func New(ctx context.Context, opts exec.InitOptions) (exec.Driver, error) {
	return newDriver(opts, "/proc/self/exe")
}

func newDriver(opts exec.InitOptions, self string) (*Driver, error) {
	if len(opts.Options) > 0 {
		k, _, _ := strings.Cut(opts.Options[0], "=")
		return nil, errdefs.InvalidParameter(fmt.Errorf("native exec driver: unknown option %q (it takes none)", k))
	}
	if opts.Root == "" {
		return nil, errdefs.InvalidParameter(errors.New("native exec driver: no root directory"))
	}
	if err := checkHost(); err != nil {
		return nil, errdefs.NotImplemented(fmt.Errorf("native exec driver: %w", err))
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, err
	}
	return &Driver{dirs: supervisor.Dirs{Root: opts.Root}, host: probeHost(), self: self}, nil
}

// Info reports the driver's name and capabilities.
func (d *Driver) Info(ctx context.Context) (exec.Info, error) {
	return exec.Info{
		Name:         Name,
		Capabilities: exec.Capabilities{Pause: true, Stats: true, Tty: true, Exec: true},
	}, nil
}

// dir returns the directory of container id (see supervisor.Dirs).
func (d *Driver) dir(id string) (string, error) {
	dir, _, err := d.dirs.Lookup(id)
	return dir, err
}

// Create writes the spec into the container's directory and spawns its
// supervisor (this binary, "supervise <dir>"), which creates the
// container. The supervisor runs in its own session and outlives this
// process.
func (d *Driver) Create(ctx context.Context, spec exec.ContainerSpec) (exec.State, error) {
	if err := validID(spec.ID); err != nil {
		return exec.State{}, err
	}
	if len(spec.Process.Args) == 0 {
		return exec.State{}, errdefs.InvalidParameter(errors.New("no command specified"))
	}
	// Check everything that can be checked here, so that a bad spec fails
	// without a supervisor round trip; the supervisor translates again.
	if _, err := libcontainerConfig(spec, d.host); err != nil {
		return exec.State{}, err
	}
	if _, err := resolveUser(spec.Rootfs, spec.Process.User); err != nil {
		return exec.State{}, err
	}

	dir, err := d.dirs.Create(spec, containerFile{Spec: spec, Host: d.host})
	if err != nil {
		return exec.State{}, err
	}
	if err := supervisor.SpawnContainer(ctx, d.self, dir, spec); err != nil {
		// Spawn waited for the supervisor to exit, and the Runtime left
		// no cgroup or libcontainer state; the directory is ours.
		os.RemoveAll(dir)
		return exec.State{}, err
	}
	return d.state(ctx, spec.ID, dir)
}

// validID accepts what libcontainer accepts as a container id.
func validID(id string) error {
	if id == "" || id == "." || id == ".." {
		return errdefs.InvalidParameter(fmt.Errorf("invalid container id %q", id))
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_+-.", c)) {
			return errdefs.InvalidParameter(fmt.Errorf("invalid container id %q", id))
		}
	}
	return nil
}

// Start asks the container's supervisor to execute the program.
func (d *Driver) Start(ctx context.Context, id string) (exec.State, error) {
	dir, err := d.dir(id)
	if err != nil {
		return exec.State{}, err
	}
	st, err := d.state(ctx, id, dir)
	if err != nil {
		return exec.State{}, err
	}
	if err := supervisor.StartIn(ctx, st); err != nil {
		return exec.State{}, err
	}
	return d.state(ctx, id, dir)
}

// Signal sends sig to the container's init through libcontainer, which
// checks the init's start time against its record first (no signal to a
// reused pid). A created container (init waiting for Start) can be
// signalled too: that is how the daemon gets rid of one that never ran.
func (d *Driver) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	dir, err := d.dir(id)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, id, dir)
	if err != nil {
		return err
	}
	if st.Status == exec.StatusStopped {
		return errdefs.Conflict(fmt.Errorf("container %s is not running", id))
	}
	c, err := d.load(dir, id)
	if err != nil {
		return err
	}
	if err := c.Signal(sig); err != nil {
		if errors.Is(err, libcontainer.ErrNotRunning) {
			return errdefs.Conflict(fmt.Errorf("container %s is not running", id))
		}
		return err
	}
	return nil
}

// load returns the libcontainer view of a live container; a container
// whose libcontainer state is gone (it exited and its supervisor
// destroyed it) is a Conflict: it is not running.
func (d *Driver) load(dir, id string) (*libcontainer.Container, error) {
	c, err := libcontainer.Load(filepath.Join(dir, lcDir), id)
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) || errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.Conflict(fmt.Errorf("container %s is not running", id))
		}
		return nil, err
	}
	return c, nil
}

// State reports the supervisor's view (identity-checked), refined with
// libcontainer's for a paused container.
func (d *Driver) State(ctx context.Context, id string) (exec.State, error) {
	dir, err := d.dir(id)
	if err != nil {
		return exec.State{}, err
	}
	return d.state(ctx, id, dir)
}

func (d *Driver) state(ctx context.Context, id, dir string) (exec.State, error) {
	st, err := supervisor.ReadState(dir)
	if err != nil {
		return exec.State{}, err
	}
	st.ID = id
	if st.Status == exec.StatusRunning {
		if c, err := libcontainer.Load(filepath.Join(dir, lcDir), id); err == nil {
			if s, err := c.Status(); err == nil && s == libcontainer.Paused {
				st.Status = exec.StatusPaused
			}
		}
	}
	return st, nil
}

// Exec starts an exec process through the container's supervisor, after
// refusing a container that is not running (paused included: a process
// joining a frozen cgroup would hang).
func (d *Driver) Exec(ctx context.Context, id string, spec exec.ExecSpec) (exec.ExecState, error) {
	dir, err := d.dir(id)
	if err != nil {
		return exec.ExecState{}, err
	}
	st, err := d.state(ctx, id, dir)
	if err != nil {
		return exec.ExecState{}, err
	}
	return supervisor.ExecIn(ctx, st, spec)
}

// Restore lists every container in the driver's root.
func (d *Driver) Restore(ctx context.Context) ([]exec.State, error) {
	return d.dirs.Restore(ctx, func(dir, id string) (exec.State, error) {
		return d.state(ctx, id, dir)
	})
}

// Delete removes a stopped container's directory and whatever libcontainer
// left (cgroups, state) when its supervisor died without destroying it.
func (d *Driver) Delete(ctx context.Context, id string) error {
	dir, err := d.dir(id)
	if err != nil {
		return err
	}
	st, err := d.state(ctx, id, dir)
	if err != nil {
		return err
	}
	if st.Status == exec.StatusCreated {
		// A created container never ran its program (docker run whose
		// attach failed, a daemon giving up): the contract forbids only
		// deleting running and paused ones, so discard it here.
		if st, err = d.discardCreated(ctx, id, dir); err != nil {
			return err
		}
	}
	if st.Status != exec.StatusStopped {
		return errdefs.Conflict(fmt.Errorf("cannot delete container %s: it is %s", id, st.Status))
	}
	if c, err := libcontainer.Load(filepath.Join(dir, lcDir), id); err == nil {
		// The supervisor is gone and its init died with it (parent-death
		// signal); processes left in a shared pid namespace are killed
		// by Destroy.
		if err := c.Destroy(); err != nil {
			return fmt.Errorf("delete container %s: %w", id, err)
		}
	}
	return os.RemoveAll(dir)
}

// discardCreated kills the waiting init of a created container and waits
// until its supervisor recorded the exit and is gone.
func (d *Driver) discardCreated(ctx context.Context, id, dir string) (exec.State, error) {
	if c, err := libcontainer.Load(filepath.Join(dir, lcDir), id); err == nil {
		if err := c.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return exec.State{}, fmt.Errorf("discard created container %s: %w", id, err)
		}
	}
	return supervisor.WaitGone(ctx, func() (exec.State, error) { return d.state(ctx, id, dir) })
}

// Pause freezes the container's cgroup.
func (d *Driver) Pause(ctx context.Context, id string) error {
	return d.withLoaded(id, func(c *libcontainer.Container) error {
		// The v1 freezer gives up ("unable to freeze") when the tasks do
		// not all stop within its own short loop, which happens on a busy
		// host while the container forks; the cgroup is thawed again then,
		// so trying anew is safe.
		var err error
		for attempt := range 5 {
			if err = c.Pause(); err == nil || !strings.Contains(err.Error(), "unable to freeze") {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
			}
		}
		return err
	})
}

// Resume thaws the container's cgroup.
func (d *Driver) Resume(ctx context.Context, id string) error {
	return d.withLoaded(id, func(c *libcontainer.Container) error { return c.Resume() })
}

func (d *Driver) withLoaded(id string, f func(*libcontainer.Container) error) error {
	dir, err := d.dir(id)
	if err != nil {
		return err
	}
	c, err := d.load(dir, id)
	if err != nil {
		return err
	}
	if err := f(c); err != nil {
		if errors.Is(err, libcontainer.ErrNotRunning) || errors.Is(err, libcontainer.ErrNotPaused) {
			return errdefs.Conflict(fmt.Errorf("container %s: %w", id, err))
		}
		return err
	}
	return nil
}

// Stats samples the container's cgroups.
func (d *Driver) Stats(ctx context.Context, id string) (exec.Stats, error) {
	var out exec.Stats
	err := d.withLoaded(id, func(c *libcontainer.Container) error {
		s, err := c.Stats()
		if err != nil {
			return err
		}
		out.Read = time.Now()
		if cs := s.CgroupStats; cs != nil {
			out.CPUTotal = cs.CpuStats.CpuUsage.TotalUsage
			out.MemoryUsage = cs.MemoryStats.Usage.Usage
			out.MemoryLimit = cs.MemoryStats.Usage.Limit
			out.Pids = cs.PidsStats.Current
		}
		return nil
	})
	return out, err
}

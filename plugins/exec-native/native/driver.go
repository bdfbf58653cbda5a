package native

import (
	"context"
	"encoding/json"
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

// dirIDLen is how much of a container id names its directory: unix socket
// paths (the supervisor's, in that directory) must fit in 107 bytes, and
// a 64-hex id would not leave room for the driver's root. 12 hex digits
// are Docker's short id; a collision is refused at Create.
const dirIDLen = 12

// Driver is the native execution driver's control plane. It holds no
// container state in memory: everything is in its root directory and in
// the supervisors, so a relaunched driver carries on where one left off.
type Driver struct {
	root string
	host hostInfo
	// self is the binary re-executed as "self supervise <dir>".
	self string
}

var _ exec.Driver = (*Driver)(nil)

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
	return &Driver{root: opts.Root, host: probeHost(), self: self}, nil
}

// Info reports the driver's name and capabilities.
func (d *Driver) Info(ctx context.Context) (exec.Info, error) {
	return exec.Info{
		Name:         Name,
		Capabilities: exec.Capabilities{Pause: true, Stats: true, Tty: true},
	}, nil
}

func dirName(id string) string {
	if len(id) > dirIDLen {
		return id[:dirIDLen]
	}
	return id
}

// dir returns the directory of container id, checking that it holds that
// container (and not another with the same short id).
func (d *Driver) dir(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return "", errdefs.NotFound(fmt.Errorf("no such container: %q", id))
	}
	dir := filepath.Join(d.root, dirName(id))
	cf, err := readContainerFile(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", errdefs.NotFound(fmt.Errorf("no such container: %s", id))
		}
		return "", err
	}
	if cf.Spec.ID != id {
		return "", errdefs.NotFound(fmt.Errorf("no such container: %s", id))
	}
	return dir, nil
}

func readContainerFile(dir string) (containerFile, error) {
	var cf containerFile
	b, err := os.ReadFile(filepath.Join(dir, specFile))
	if err != nil {
		return cf, err
	}
	if err := json.Unmarshal(b, &cf); err != nil {
		return cf, fmt.Errorf("%s: %w", filepath.Join(dir, specFile), err)
	}
	return cf, nil
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

	dir := filepath.Join(d.root, dirName(spec.ID))
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if cf, rerr := readContainerFile(dir); rerr == nil && cf.Spec.ID != spec.ID {
				return exec.State{}, errdefs.Conflict(fmt.Errorf("container %s: another container (%s) has the same %d-character prefix", spec.ID, cf.Spec.ID, dirIDLen))
			}
			return exec.State{}, errdefs.Conflict(fmt.Errorf("container %s already exists", spec.ID))
		}
		return exec.State{}, err
	}
	fail := func(err error) (exec.State, error) {
		os.RemoveAll(dir)
		return exec.State{}, err
	}
	b, err := json.Marshal(containerFile{Spec: spec, Host: d.host})
	if err != nil {
		return fail(err)
	}
	if err := writeFileExcl(filepath.Join(dir, specFile), b); err != nil {
		return fail(err)
	}
	p := spec.Process
	_, err = supervisor.Spawn(ctx, supervisor.SpawnOptions{
		Path:     d.self,
		Args:     []string{"supervise", dir},
		StateDir: dir,
		Config: supervisor.Config{
			ID:            spec.ID,
			LogPath:       spec.LogPath,
			Terminal:      p.Terminal,
			OpenStdin:     p.OpenStdin,
			StdinOnce:     p.StdinOnce,
			ConsoleWidth:  p.ConsoleWidth,
			ConsoleHeight: p.ConsoleHeight,
		},
	})
	if err != nil {
		// Spawn waited for the supervisor to exit, and the Runtime left
		// no cgroup or libcontainer state; the directory is ours.
		return fail(err)
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

// writeFileExcl writes a new file. Not fsynced: the driver's state lives
// as long as the host runs (the exec root does not survive a reboot), and an
// fsync costs milliseconds in every Create on a busy disk.
func writeFileExcl(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
	if st.Status != exec.StatusCreated {
		return exec.State{}, errdefs.Conflict(fmt.Errorf("container %s is %s, not created", id, st.Status))
	}
	c, err := supervisor.Dial(ctx, st.Supervisor)
	if err != nil {
		return exec.State{}, err
	}
	if err := c.Start(ctx); err != nil {
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

// Restore lists every container in the driver's root.
func (d *Driver) Restore(ctx context.Context) ([]exec.State, error) {
	ents, err := os.ReadDir(d.root)
	if err != nil {
		return nil, err
	}
	var out []exec.State
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(d.root, e.Name())
		cf, err := readContainerFile(dir)
		if err != nil {
			// A directory without a spec is a Create that died before
			// writing it; nothing runs there.
			continue
		}
		st, err := d.state(ctx, cf.Spec.ID, dir)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("restore %s: %w", cf.Spec.ID, err)
		}
		out = append(out, st)
	}
	return out, nil
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
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := d.state(ctx, id, dir)
		if err != nil {
			return st, err
		}
		if st.Status == exec.StatusStopped && !processAlive(st.SupervisorPid) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
}

// processAlive: a zombie counts as gone (the supervisor's parent, a dead
// driver or the daemon, may not have reaped it yet).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
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

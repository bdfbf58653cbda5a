package lxc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// specFile is the ContainerSpec the driver writes in the container's
// directory for its supervisor.
const specFile = "container.json"

// dirIDLen is how much of a container id names its directory, as in the
// native driver: the supervisor's socket there must fit in 107 bytes. A
// collision is refused at Create.
const dirIDLen = 12

// Driver is the LXC execution driver's control plane. Like the native
// driver it holds no container state in memory: everything is in its root
// directory and in the supervisors, so a relaunched driver carries on.
type Driver struct {
	root    string
	version string // LXC's, for Info
	// self is the binary re-executed as "self supervise <dir>".
	self string
	// tty: self is static, so it can be the containers' tiny init in
	// terminal mode (tty.go).
	tty bool
}

var _ exec.Driver = (*Driver)(nil)

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
	return &Driver{root: root, version: v, self: self, tty: staticBinary(self)}, nil
}

// Info reports Docker 1.7's "lxc-<version>" and what works: LxcConf,
// pause, stats, and terminals when the binary is static (tty.go).
func (d *Driver) Info(ctx context.Context) (exec.Info, error) {
	return exec.Info{
		Name:         DriverName(d.version),
		Capabilities: exec.Capabilities{LxcConf: true, Pause: true, Stats: true, Tty: d.tty},
	}, nil
}

// Supervise is the body of "<plugin> supervise <dir>": the container's
// supervisor (core/driver/exec/supervisor) with this driver's Runtime.
func Supervise(ctx context.Context, dir string) int {
	spec, err := readSpec(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "exec-lxc supervisor:", err)
		return 1
	}
	rt, err := NewRuntime(dir, spec, HostInfo())
	if err != nil {
		fmt.Fprintln(os.Stderr, "exec-lxc supervisor:", err)
		return 1
	}
	if self, err := os.Executable(); err == nil && staticBinary(self) {
		rt.TTYInit = self
	}
	return supervisor.Main(ctx, rt)
}

func readSpec(dir string) (exec.ContainerSpec, error) {
	var spec exec.ContainerSpec
	b, err := os.ReadFile(filepath.Join(dir, specFile))
	if err != nil {
		return spec, err
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return spec, fmt.Errorf("%s: %w", filepath.Join(dir, specFile), err)
	}
	return spec, nil
}

func dirName(id string) string {
	if len(id) > dirIDLen {
		return id[:dirIDLen]
	}
	return id
}

// dir returns the directory of container id, checking that it holds that
// container (and not another with the same short id).
func (d *Driver) dir(id string) (string, exec.ContainerSpec, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return "", exec.ContainerSpec{}, errdefs.NotFound(fmt.Errorf("no such container: %q", id))
	}
	dir := filepath.Join(d.root, dirName(id))
	spec, err := readSpec(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", spec, errdefs.NotFound(fmt.Errorf("no such container: %s", id))
		}
		return "", spec, err
	}
	if spec.ID != id {
		return "", spec, errdefs.NotFound(fmt.Errorf("no such container: %s", id))
	}
	return dir, spec, nil
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
	if spec.Process.Terminal && !d.tty {
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
	dir := filepath.Join(d.root, dirName(spec.ID))
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if other, rerr := readSpec(dir); rerr == nil && other.ID != spec.ID {
				return exec.State{}, errdefs.Conflict(fmt.Errorf("container %s: another container (%s) has the same %d-character prefix", spec.ID, other.ID, dirIDLen))
			}
			return exec.State{}, errdefs.Conflict(fmt.Errorf("container %s already exists", spec.ID))
		}
		return exec.State{}, err
	}
	fail := func(err error) (exec.State, error) {
		os.RemoveAll(dir)
		return exec.State{}, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, specFile), b, 0o600); err != nil {
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
		// Spawn waited for the supervisor to exit; the Runtime left no
		// cgroup or LXC state behind.
		return fail(err)
	}
	return d.state(dir, spec.ID)
}

// Start asks the container's supervisor to open the gate.
func (d *Driver) Start(ctx context.Context, id string) (exec.State, error) {
	dir, _, err := d.dir(id)
	if err != nil {
		return exec.State{}, err
	}
	st, err := d.state(dir, id)
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
	return d.state(dir, id)
}

// Signal asks the supervisor to signal what it holds as the init,
// lxc-start, which forwards every signal but SIGKILL and SIGSTOP to the
// container's init, the program (SIGKILL kills it and the container with
// it). Going through
// the supervisor avoids signalling a reused pid.
func (d *Driver) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	dir, spec, err := d.dir(id)
	if err != nil {
		return err
	}
	st, err := d.state(dir, id)
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
	dir, _, err := d.dir(id)
	if err != nil {
		return exec.State{}, err
	}
	return d.state(dir, id)
}

// state is the supervisor's state; its Pid is the container's init, the
// program (Created.ContainerPid), not LXC's monitor.
func (d *Driver) state(dir, id string) (exec.State, error) {
	st, err := supervisor.ReadState(dir)
	if err != nil {
		return exec.State{}, err
	}
	st.ID = id
	if st.Status == exec.StatusRunning {
		if spec, err := readSpec(dir); err == nil && paused(spec) {
			st.Status = exec.StatusPaused
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
		spec, err := readSpec(dir)
		if err != nil {
			// A Create that died before writing the spec; nothing runs.
			continue
		}
		st, err := d.state(dir, spec.ID)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("restore %s: %w", spec.ID, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// Delete removes a stopped container's directory, and its cgroups and
// LXC's files when its supervisor died without destroying them.
func (d *Driver) Delete(ctx context.Context, id string) error {
	dir, spec, err := d.dir(id)
	if err != nil {
		return err
	}
	st, err := d.state(dir, id)
	if err != nil {
		return err
	}
	if st.Status == exec.StatusCreated {
		// The contract forbids deleting only running and paused
		// containers: a created one is discarded here.
		if st, err = d.discardCreated(ctx, id, dir); err != nil {
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

// discardCreated kills a created container through its supervisor and
// waits until its supervisor recorded the exit and is gone.
func (d *Driver) discardCreated(ctx context.Context, id, dir string) (exec.State, error) {
	if err := d.Signal(ctx, id, syscall.SIGKILL); err != nil && !errdefs.IsConflict(err) {
		return exec.State{}, fmt.Errorf("discard created container %s: %w", id, err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := d.state(dir, id)
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
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

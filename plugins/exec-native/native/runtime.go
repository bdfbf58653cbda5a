package native

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	// Strictly required by libcontainer, as runc's own main has it: the
	// package's init installs the device-cgroup writers into package
	// cgroups (cgroups.DevicesSetV1/V2); without it every Create fails
	// with "cgroup manager is not configured to set device rules". There
	// is no exported way to install them explicitly.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// lcDir is libcontainer's state root inside a container's directory
// (state.json, exec.fifo under lc/<id>/).
const lcDir = "lc"

// defaultPath is Docker 1.7's default PATH, used when the spec's
// environment has none (runc's init looks the program up with the
// container's own PATH).
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerFile is the driver's record of a container (supervisor.RecordFile).
type containerFile struct {
	Spec exec.ContainerSpec `json:"spec"`
	Host hostInfo           `json:"host"`
}

// Runtime is the supervisor.Runtime of the native driver: it runs in the
// supervisor process and makes the container with libcontainer.
type Runtime struct {
	dir  string
	spec exec.ContainerSpec
	host hostInfo

	// thread forks what must die with the supervisor: every libcontainer
	// or process-starting call goes through it (see ForkThread).
	thread *supervisor.ForkThread

	container  *libcontainer.Container
	pid        int    // the container's init
	memoryPath string // the container's memory cgroup, for OOM
}

var _ supervisor.Runtime = (*Runtime)(nil)

// NewRuntime reads the container's spec from dir, its directory in the
// driver's state (the supervisor's state directory).
func NewRuntime(dir string) (*Runtime, error) {
	var cf containerFile
	if err := supervisor.ReadRecord(dir, &cf); err != nil {
		return nil, err
	}
	r := &Runtime{dir: dir, spec: cf.Spec, host: cf.Host, thread: supervisor.NewForkThread()}
	return r, nil
}

// Supervise is the body of "<plugin> supervise <dir>": the container's
// supervisor (core/driver/exec/supervisor) with this driver's Runtime.
func Supervise(ctx context.Context, dir string) int {
	rt, err := NewRuntime(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "exec-native supervisor:", err)
		return 1
	}
	return supervisor.Main(ctx, rt)
}

// Create creates the container with libcontainer and starts its init,
// which then waits on libcontainer's exec fifo. runc's init looks the
// program up (exec.LookPath in the container) before waiting, so a missing
// program fails here.
func (r *Runtime) Create(ctx context.Context, stdio supervisor.Stdio) (supervisor.Created, error) {
	spec := r.spec
	if len(spec.Process.Args) == 0 {
		return supervisor.Created{}, errdefs.InvalidParameter(errors.New("no command specified"))
	}
	cfg, err := libcontainerConfig(spec, r.host)
	if err != nil {
		return supervisor.Created{}, err
	}
	proc, err := newProcess(spec.Rootfs, spec.Process, stdio)
	if err != nil {
		return supervisor.Created{}, err
	}
	proc.Init = true

	var console *consoleReceiver
	if stdio.Terminal {
		if console, err = receiveConsole(proc); err != nil {
			return supervisor.Created{}, err
		}
		defer console.close()
	}

	var c *libcontainer.Container
	err = r.thread.Do(func() error {
		var err error
		c, err = libcontainer.Create(filepath.Join(r.dir, lcDir), spec.ID, cfg)
		if err != nil {
			return err
		}
		if err := c.Start(proc); err != nil {
			_ = c.Destroy()
			return err
		}
		return nil
	})
	if err != nil {
		return supervisor.Created{}, classifyStartError(err)
	}
	r.container = c
	if st, err := c.State(); err == nil {
		r.memoryPath = st.CgroupPaths["memory"]
		if cgroups.IsCgroup2UnifiedMode() {
			r.memoryPath = st.CgroupPaths[""]
		}
	}
	pid, err := proc.Pid()
	if err != nil {
		r.abort(0)
		return supervisor.Created{}, err
	}
	r.pid = pid
	created := supervisor.Created{Pid: pid}
	if console != nil {
		if created.Console, err = console.wait(); err != nil {
			r.abort(pid)
			return supervisor.Created{}, err
		}
	}
	return created, nil
}

// newProcess is the libcontainer process for p, with its user resolved in
// the container's files and stdio wired.
func newProcess(rootfs string, p exec.Process, stdio supervisor.Stdio) (*libcontainer.Process, error) {
	u, err := resolveUser(rootfs, p.User)
	if err != nil {
		return nil, err
	}
	proc := &libcontainer.Process{
		Args:             p.Args,
		Env:              processEnv(p.Env, u.Home),
		UID:              u.UID,
		GID:              u.GID,
		AdditionalGroups: u.Groups,
		Cwd:              p.Cwd,
		ConsoleWidth:     stdio.Width,
		ConsoleHeight:    stdio.Height,
	}
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	if !filepath.IsAbs(proc.Cwd) {
		return nil, errdefs.InvalidParameter(fmt.Errorf("working directory %q is not an absolute path", proc.Cwd))
	}
	// nil *os.File must stay a nil io.Reader/Writer (then /dev/null).
	if stdio.Stdin != nil {
		proc.Stdin = stdio.Stdin
	}
	if stdio.Stdout != nil {
		proc.Stdout = stdio.Stdout
	}
	if stdio.Stderr != nil {
		proc.Stderr = stdio.Stderr
	}
	return proc, nil
}

var _ supervisor.RuntimeExecer = (*Runtime)(nil)

// Exec runs an exec process with libcontainer's setns path (runc exec):
// runc's init joins the container's namespaces and cgroups, takes the
// container's confinement, looks the program up (so a missing one fails
// here) and executes it. Its last stage is orphaned to the supervisor, a
// child subreaper, which reaps it.
func (r *Runtime) Exec(ctx context.Context, spec exec.ExecSpec, stdio supervisor.Stdio) (supervisor.Created, error) {
	if r.container == nil {
		return supervisor.Created{}, errdefs.Conflict(errors.New("container was not created"))
	}
	proc, err := newProcess(r.spec.Rootfs, spec.Process, stdio)
	if err != nil {
		return supervisor.Created{}, err
	}
	if spec.Privileged {
		// docker exec --privileged: every capability, whatever the
		// container has (Docker 1.7 did exactly this).
		all, err := capsFor(exec.ContainerSpec{Privileged: true})
		if err != nil {
			return supervisor.Created{}, err
		}
		proc.Capabilities = &configs.Capabilities{Bounding: all, Effective: all, Permitted: all}
	}
	var console *consoleReceiver
	if stdio.Terminal {
		if console, err = receiveConsole(proc); err != nil {
			return supervisor.Created{}, err
		}
		defer console.close()
	}
	// runc's init for exec is this binary (/proc/self/exe): the program
	// runs once the process's executable is another file.
	self, err := supervisor.Executable(os.Getpid())
	if err != nil {
		return supervisor.Created{}, err
	}
	if err := r.thread.Do(func() error { return r.container.Run(proc) }); err != nil {
		return supervisor.Created{}, classifyStartError(err)
	}
	pid, err := proc.Pid()
	if err != nil {
		return supervisor.Created{}, err
	}
	created := supervisor.Created{Pid: pid}
	if console != nil {
		if created.Console, err = console.wait(); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			return supervisor.Created{}, err
		}
	}
	if err := supervisor.WaitExecuted(ctx, pid, self); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		if created.Console != nil {
			created.Console.Close()
		}
		return supervisor.Created{}, err
	}
	return created, nil
}

// consoleReceiver receives the pty master that runc's init sends on the
// process's console socket.
type consoleReceiver struct {
	parent, child *os.File
	got           chan consoleResult
}

type consoleResult struct {
	f   *os.File
	err error
}

// receiveConsole gives proc a console socket. The init sends the master
// while it sets itself up, before Start or Run returns: it is received
// concurrently rather than left to the socket buffer.
func receiveConsole(proc *libcontainer.Process) (*consoleReceiver, error) {
	parent, child, err := utils.NewSockPair("console")
	if err != nil {
		return nil, err
	}
	proc.ConsoleSocket = child
	c := &consoleReceiver{parent: parent, child: child, got: make(chan consoleResult, 1)}
	go func() {
		f, err := utils.RecvFile(parent)
		c.got <- consoleResult{f, err}
	}()
	return c, nil
}

// wait returns the master once the process was started. The init's stage
// closed its end of the socket pair by then; closing ours makes a receive
// that never got a master fail instead of hanging.
func (c *consoleReceiver) wait() (*os.File, error) {
	c.child.Close()
	res := <-c.got
	if res.err != nil {
		return nil, fmt.Errorf("receive the container's terminal: %w", res.err)
	}
	return res.f, nil
}

func (c *consoleReceiver) close() {
	c.parent.Close()
	c.child.Close()
}

// abort undoes a Create that failed after the init started: it kills and
// reaps the init (the supervisor reaps nothing while Create runs) and
// destroys the container, so nothing is left behind.
func (r *Runtime) abort(pid int) {
	if pid > 0 {
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
	}
	_ = r.thread.Do(func() error { return r.container.Destroy() })
	r.container = nil
}

// Start lets the init execute the program (it opens libcontainer's exec
// fifo for reading, which releases the init) and returns once the program
// has replaced the init's code, as the contract asks: libcontainer's Exec
// returns when the init closed the fifo, which is before its execve, so a
// signal sent right then would still reach libcontainer's Go init.
func (r *Runtime) Start(ctx context.Context) error {
	if r.container == nil {
		return errdefs.Conflict(errors.New("container was not created"))
	}
	pid := r.pid
	before, err := supervisor.Executable(pid)
	if err != nil {
		return fmt.Errorf("container init %d: %w", pid, err)
	}
	if err := r.thread.Do(func() error { return r.container.Exec() }); err != nil {
		return err
	}
	return supervisor.WaitExecuted(ctx, pid, before)
}

// Exited adds OOMKilled from the memory cgroup: the kernel counts OOM
// kills in memory.oom_control (cgroup v1, "oom_kill", Linux 4.13+) or
// memory.events (v2, "oom_kill"); a container killed with SIGKILL while
// the counter is non-zero was OOM-killed, as Docker reported it.
func (r *Runtime) Exited(ctx context.Context, status exec.ExitStatus) exec.ExitStatus {
	if r.memoryPath != "" && status.Code == 128+int(unix.SIGKILL) {
		file := "memory.oom_control"
		if cgroups.IsCgroup2UnifiedMode() {
			file = "memory.events"
		}
		if n, ok := readKeyedUint(filepath.Join(r.memoryPath, file), "oom_kill"); ok && n > 0 {
			status.OOMKilled = true
		}
	}
	return status
}

// Destroy removes the container's cgroups and libcontainer state.
func (r *Runtime) Destroy(ctx context.Context) error {
	if r.container == nil {
		return nil
	}
	return r.thread.Do(func() error { return r.container.Destroy() })
}

// processEnv is the program's environment: the spec's, with Docker 1.7's
// PATH when it has none and HOME from /etc/passwd when it has none.
func processEnv(env []string, home string) []string {
	out := withHome(env, home)
	for _, kv := range out {
		if strings.HasPrefix(kv, "PATH=") {
			return out
		}
	}
	return append(out, defaultPath)
}

// execErrorRE finds the exec.LookPath or execve error in libcontainer's
// error chain ("unable to start container process: error during container
// init: exec: \"nosuch\": executable file not found in $PATH"); the init's
// error crosses a pipe as text, so its class has to be recovered from it.
var execErrorRE = regexp.MustCompile(`exec: "[^"]*": .*$`)

// classifyStartError makes a program that cannot be found or executed an
// InvalidParameter error with the message Docker printed.
func classifyStartError(err error) error {
	msg := err.Error()
	if m := execErrorRE.FindString(msg); m != "" {
		return errdefs.InvalidParameter(errors.New(m))
	}
	if strings.Contains(msg, "chdir to cwd") || strings.Contains(msg, "setup user") {
		return errdefs.InvalidParameter(err)
	}
	return err
}

// readKeyedUint reads "key value" lines (memory.oom_control,
// memory.events) and returns key's value.
func readKeyedUint(path, key string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

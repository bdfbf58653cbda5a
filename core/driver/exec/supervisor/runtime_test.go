package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Modes of the test binary when re-executed (see TestMain).
const (
	modeEnv       = "SUPERVISOR_TEST_MODE"
	modeSupervise = "supervise" // run Main with testRuntime
	// modeSuperviseNoExec runs Main with a Runtime that cannot exec.
	modeSuperviseNoExec = "supervise-noexec"
	modeInit            = "init"    // wait at the barrier, then exec the program
	modeSpawner         = "spawner" // call Spawn, print the Handle, block
	argsEnv             = "SUPERVISOR_TEST_ARGS"
)

// programFile is where a test puts the program the testRuntime runs.
const programFile = "program.json"

// testRuntime runs a host program as the container's "init": the test
// binary re-executed in modeInit, a child of the supervisor with SIGKILL as
// its parent-death signal, held at a pipe barrier until Start, then
// exec'ing the program. No namespaces: this exercises the supervisor, not a
// real container runtime.
type testRuntime struct {
	dir     string
	barrier *os.File
	cmd     *osexec.Cmd
}

var _ Runtime = (*testRuntime)(nil)

func (r *testRuntime) Create(ctx context.Context, stdio Stdio) (Created, error) {
	var args []string
	b, err := os.ReadFile(filepath.Join(r.dir, programFile))
	if err != nil {
		return Created{}, err
	}
	if err := json.Unmarshal(b, &args); err != nil {
		return Created{}, err
	}
	if _, err := osexec.LookPath(args[0]); err != nil {
		return Created{}, errdefs.InvalidParameter(fmt.Errorf("exec: %q: executable file not found in $PATH", args[0]))
	}
	br, bw, err := os.Pipe()
	if err != nil {
		return Created{}, err
	}
	defer br.Close()
	cmd := osexec.Command(os.Args[0])
	cmd.Env = []string{modeEnv + "=" + modeInit, argsEnv + "=" + string(b), "PATH=" + os.Getenv("PATH")}
	cmd.ExtraFiles = []*os.File{br}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	var master, slave *os.File
	if stdio.Terminal {
		if master, slave, err = openPty(); err != nil {
			bw.Close()
			return Created{}, err
		}
		defer slave.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
	} else {
		if stdio.Stdin != nil {
			cmd.Stdin = stdio.Stdin
		}
		cmd.Stdout, cmd.Stderr = stdio.Stdout, stdio.Stderr
	}
	if err := cmd.Start(); err != nil {
		bw.Close()
		if master != nil {
			master.Close()
		}
		return Created{}, err
	}
	r.barrier, r.cmd = bw, cmd
	return Created{Pid: cmd.Process.Pid, Console: master}, nil
}

var _ RuntimeExecer = (*testRuntime)(nil)

// Exec runs a host program with the supervisor's stdio (no namespaces:
// it does not end with the "container", which exercises the supervisor's
// own end of exec processes).
func (r *testRuntime) Exec(ctx context.Context, spec exec.ExecSpec, stdio Stdio) (Created, error) {
	path, err := osexec.LookPath(spec.Process.Args[0])
	if err != nil {
		return Created{}, errdefs.InvalidParameter(fmt.Errorf("exec: %q: executable file not found in $PATH", spec.Process.Args[0]))
	}
	cmd := osexec.Command(path, spec.Process.Args[1:]...)
	cmd.Env = spec.Process.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var slave *os.File
	var master *os.File
	if stdio.Terminal {
		if master, slave, err = openPty(); err != nil {
			return Created{}, err
		}
		defer slave.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
	} else {
		if stdio.Stdin != nil {
			cmd.Stdin = stdio.Stdin
		}
		cmd.Stdout, cmd.Stderr = stdio.Stdout, stdio.Stderr
	}
	if err := cmd.Start(); err != nil {
		if master != nil {
			master.Close()
		}
		return Created{}, err
	}
	return Created{Pid: cmd.Process.Pid, Console: master}, nil
}

var _ ExecExiter = (*testRuntime)(nil)

// ExecExited adds 100 to the code of execs whose id says so, so that a
// test sees the hook applied.
func (r *testRuntime) ExecExited(ctx context.Context, id string, st exec.ExitStatus) exec.ExitStatus {
	if strings.HasPrefix(id, "plus100-") {
		st.Code += 100
	}
	return st
}

// noExecRuntime is a Runtime without RuntimeExecer.
type noExecRuntime struct{ Runtime }

func (r *testRuntime) Start(ctx context.Context) error {
	if _, err := r.barrier.Write([]byte{1}); err != nil {
		return err
	}
	return r.barrier.Close()
}

func (r *testRuntime) Exited(ctx context.Context, st exec.ExitStatus) exec.ExitStatus {
	return st
}

func (r *testRuntime) Destroy(ctx context.Context) error {
	r.barrier.Close()
	// Leave a trace for tests: Destroy ran before waiters were answered.
	return os.WriteFile(filepath.Join(r.dir, "destroyed"), nil, 0o600)
}

// openPty opens a new pseudo-terminal pair. O_NOCTTY: the supervisor is a
// session leader and must not acquire it as its own controlling terminal.
func openPty() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, nil, err
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		return nil, nil, err
	}
	sfd, err := unix.Open("/dev/pts/"+strconv.Itoa(int(n)), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		return nil, nil, err
	}
	// Non-blocking before NewFile, so the master joins Go's poller and
	// Close interrupts a pending Read.
	return os.NewFile(uintptr(mfd), "ptmx"), os.NewFile(uintptr(sfd), "pts"), nil
}

// initMain is the container init of testRuntime: wait for Start's byte on
// fd 3, then become the program.
func initMain() int {
	barrier := os.NewFile(3, "barrier")
	var b [1]byte
	if n, _ := barrier.Read(b[:]); n != 1 {
		return 111 // the supervisor went away before Start
	}
	barrier.Close()
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(argsEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 112
	}
	path, err := osexec.LookPath(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 127
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "TERM=xterm"}
	err = syscall.Exec(path, args, env)
	fmt.Fprintln(os.Stderr, err)
	return 126
}

// spawnerMain plays a driver: Spawn a supervisor as the options in the
// environment say, print the Handle, and wait to be killed.
func spawnerMain() int {
	var opts SpawnOptions
	if err := json.Unmarshal([]byte(os.Getenv(argsEnv)), &opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h, err := Spawn(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(h)
	select {}
}

func testMainMode() (int, bool) {
	switch os.Getenv(modeEnv) {
	case modeSupervise:
		return Main(context.Background(), &testRuntime{dir: os.Getenv(EnvStateDir)}), true
	case modeSuperviseNoExec:
		return Main(context.Background(), noExecRuntime{&testRuntime{dir: os.Getenv(EnvStateDir)}}), true
	case modeInit:
		return initMain(), true
	case modeSpawner:
		return spawnerMain(), true
	}
	return 0, false
}

// isNoProcess reports an ESRCH from kill.
func isNoProcess(err error) bool { return errors.Is(err, unix.ESRCH) }

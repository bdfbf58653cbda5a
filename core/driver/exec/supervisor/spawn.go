package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Environment variables by which Spawn tells the spawned process (which
// calls Main) where its state is and which descriptor reports back.
const (
	EnvStateDir = "PLUGGD_SUPERVISOR_STATE_DIR"
	EnvSyncFd   = "PLUGGD_SUPERVISOR_SYNC_FD"
)

// maxSocketPath is the longest unix socket path (sun_path is 108 bytes,
// NUL included).
const maxSocketPath = 107

// SpawnOptions says how to start a supervisor.
type SpawnOptions struct {
	// Path is the executable to run, normally the driver's own binary
	// (os.Executable()), which must call Main when it sees Args.
	Path string
	// Args are its arguments, without argv[0] (Path is used for it), for
	// example []string{"supervise", stateDir}.
	Args []string
	// Env is its environment (nil: the caller's); Spawn adds EnvStateDir
	// and EnvSyncFd.
	Env []string
	// StateDir is the container's directory in the driver's state; it is
	// made (0700) if missing, and Config is written there.
	StateDir string
	Config   Config
}

// Handle is a spawned supervisor.
type Handle struct {
	// Pid is the supervisor process.
	Pid int
	// InitPid is the container's init, created and waiting for Start.
	InitPid  int
	Socket   string
	StateDir string
	Identity Identity
}

// syncMessage is what Main writes on the sync descriptor once
// Runtime.Create returned.
type syncMessage struct {
	Pid      int           `json:"pid,omitempty"`
	Identity Identity      `json:"identity"`
	Error    string        `json:"error,omitempty"`
	Class    errdefs.Class `json:"class,omitempty"`
}

// Spawn starts a supervisor for one container and returns once its
// Runtime.Create succeeded, or with Create's error (its errdefs class
// preserved: a missing program is InvalidParameter) after making sure the
// supervisor has exited and removing what Spawn wrote, so nothing is left
// running. Cancelling ctx before then kills the supervisor (and with it the
// init).
//
// The supervisor runs in a session of its own without a parent-death
// signal and with /dev/null as stdio, so it survives the caller. Spawn
// reaps it when it exits while the caller lives (a goroutine waits for
// it), so no zombie stays behind in a long-running driver.
func Spawn(ctx context.Context, opts SpawnOptions) (*Handle, error) {
	if opts.Path == "" || opts.StateDir == "" {
		return nil, errdefs.InvalidParameter(errors.New("supervisor.Spawn: Path and StateDir are required"))
	}
	cfg := opts.Config
	if cfg.Socket == "" {
		cfg.Socket = filepath.Join(opts.StateDir, SocketFile)
	}
	if len(cfg.Socket) > maxSocketPath {
		return nil, errdefs.InvalidParameter(fmt.Errorf("supervisor socket path %q is longer than %d bytes", cfg.Socket, maxSocketPath))
	}
	madeDir := false
	if _, err := os.Stat(opts.StateDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
			return nil, err
		}
		madeDir = true
	}
	for _, name := range []string{ExitFile, IdentityFile, StatusFile} {
		// Leftovers of an earlier run would mislead ReadState.
		os.Remove(filepath.Join(opts.StateDir, name))
	}
	cleanup := func() {
		if madeDir {
			os.RemoveAll(opts.StateDir)
			return
		}
		for _, name := range []string{ConfigFile, IdentityFile, StatusFile, ExitFile} {
			os.Remove(filepath.Join(opts.StateDir, name))
		}
		os.Remove(cfg.Socket)
	}
	if err := writeJSON(opts.StateDir, ConfigFile, cfg); err != nil {
		cleanup()
		return nil, err
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		cleanup()
		return nil, err
	}
	defer pr.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		pw.Close()
		cleanup()
		return nil, err
	}
	defer devnull.Close()
	cmd := osexec.Command(opts.Path, opts.Args...)
	cmd.Env = opts.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, EnvStateDir+"="+opts.StateDir, EnvSyncFd+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		cleanup()
		return nil, fmt.Errorf("start supervisor %s: %w", opts.Path, err)
	}
	pw.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// The read ends with the message (the supervisor closes the descriptor
	// after writing it) or with EOF when the supervisor died first.
	msgc := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(pr, 64<<10))
		msgc <- b
	}()
	fail := func(err error) (*Handle, error) {
		cmd.Process.Kill()
		<-exited
		cleanup()
		return nil, err
	}
	var b []byte
	select {
	case b = <-msgc:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	var msg syncMessage
	if len(b) == 0 || json.Unmarshal(b, &msg) != nil {
		// Died before reporting: the exit status is all we have.
		var werr error
		select {
		case werr = <-exited:
		case <-ctx.Done():
			return fail(ctx.Err())
		}
		cleanup()
		if werr == nil {
			werr = errors.New("exited without reporting")
		}
		return nil, fmt.Errorf("supervisor %s for container %s: %w", opts.Path, cfg.ID, werr)
	}
	if msg.Error != "" {
		// Main exits by itself after reporting; wait so that the caller
		// sees nothing running once Spawn returned.
		<-exited
		cleanup()
		return nil, errdefs.Wrap(msg.Class, errors.New(msg.Error))
	}
	return &Handle{
		Pid:      cmd.Process.Pid,
		InitPid:  msg.Pid,
		Socket:   cfg.Socket,
		StateDir: opts.StateDir,
		Identity: msg.Identity,
	}, nil
}

// syncFile returns the descriptor Spawn passed for reporting, or nil.
func syncFile() *os.File {
	fd, err := strconv.Atoi(os.Getenv(EnvSyncFd))
	if err != nil || fd < 3 {
		return nil
	}
	return os.NewFile(uintptr(fd), "supervisor-sync")
}

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/jsonlog"
)

// Timings of the supervisor's end.
const (
	// outputGrace is how long output is still copied after the init
	// exited while something (an orphan outside a pid namespace) keeps the
	// container's stdout open; Docker's containers always had a pid
	// namespace, whose end kills every process.
	outputGrace = 2 * time.Second
	// lingerGrace keeps the socket open a little after the exit is
	// recorded, so that a Wait racing with the end still gets an answer
	// (later ones read exit.json through the driver). It ends early once
	// a Wait was answered and no connection is left: the daemon's monitor
	// is that waiter, and it deletes the container only after the
	// supervisor is gone, so a full linger was in every docker run --rm.
	lingerGrace = 200 * time.Millisecond
	// lingerPoll is how often the linger checks whether it may end.
	lingerPoll = 2 * time.Millisecond
	// drainGrace bounds the wait for attached clients to take the last
	// output and the exit frame.
	drainGrace = 5 * time.Second
)

// copyBuf is the size of each output stream's copy buffer.
const copyBuf = 32 << 10

// Main is the body of a supervisor process: the driver binary, re-executed
// by Spawn, calls it with the container's Runtime and exits with the code
// it returns. It reads its Config from the state directory named in the
// environment (EnvStateDir), creates the container, reports to Spawn, and
// serves its socket until the container has exited, its status is recorded
// and attached clients have received all output.
//
// Main tunes the Go runtime for a small resident set (one P, an eager
// garbage collector): a host may run hundreds of supervisors, and copying
// output needs neither parallelism nor a large heap.
func Main(ctx context.Context, rt Runtime) int {
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(24 << 20)

	dir := os.Getenv(EnvStateDir)
	syncw := syncFile()
	report := func(msg syncMessage) {
		if syncw == nil {
			return
		}
		syncw.Write(marshalLine(msg))
		syncw.Close()
		syncw = nil
	}
	fail := func(err error) int {
		report(syncMessage{Error: err.Error(), Class: errdefs.ClassOf(err)})
		fmt.Fprintf(os.Stderr, "supervisor: %v\n", err)
		return 1
	}
	if syncw != nil {
		// The sync descriptor must not leak into the container, or Spawn
		// would wait for the container's end instead of our report.
		unix.CloseOnExec(int(syncw.Fd()))
	}
	if dir == "" {
		return fail(fmt.Errorf("%s is not set: the supervisor must be started by supervisor.Spawn", EnvStateDir))
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		return fail(err)
	}
	s := &supervisor{
		cfg:    cfg,
		dir:    dir,
		rt:     rt,
		init:   newProc(cfg.Terminal, cfg.OpenStdin, cfg.StdinOnce, false),
		execs:  map[string]*execProc{},
		execOf: map[int]*execProc{},
		exited: make(chan struct{}),
	}
	code, err := s.run(ctx, report)
	if err != nil {
		return fail(err)
	}
	return code
}

// supervisor is the state of one supervisor process.
type supervisor struct {
	cfg   Config
	dir   string
	rt    Runtime
	ident Identity

	// reapMu is held while the Runtime creates, starts or execs (the
	// supervisor reaps nothing then, see Runtime) and while reaping or
	// signalling, so that a signal never reaches a reused pid.
	reapMu  sync.Mutex
	initPid int                // 0 once reaped
	execOf  map[int]*execProc  // exec processes not reaped yet, by reaped pid
	pid     int                // the pid reported (Created.ContainerPid or the init's), never changes
	init    *proc              // the init's stdio and exit record
	exited  chan struct{}      // the init was reaped
	waitSt  syscall.WaitStatus // the init's

	mu        sync.Mutex
	status    exec.Status
	startedAt time.Time
	execs     map[string]*execProc // by exec id (nil while starting), kept until the supervisor exits
	ending    bool                 // the init exited: no new exec

	conns sync.WaitGroup
	// active counts the connections being handled; waitAnswered is set
	// once a Wait received the exit status. Both end the linger early.
	active       atomic.Int32
	waitAnswered atomic.Bool
}

func (s *supervisor) run(ctx context.Context, report func(syncMessage)) (int, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("become child subreaper: %w", err)
	}
	// Before anything can exit, so that no SIGCHLD is missed; a buffer of
	// one suffices because each one triggers a loop reaping all.
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	// Without a terminal of our own SIGHUP only comes from a careless
	// sender; it must not kill the container with us.
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)

	ident, err := selfIdentity()
	if err != nil {
		return 0, err
	}
	s.ident = ident
	if err := writeJSON(s.dir, IdentityFile, ident); err != nil {
		return 0, err
	}
	os.Remove(s.cfg.Socket)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.cfg.Socket, Net: "unix"})
	if err != nil {
		return 0, err
	}
	ln.SetUnlinkOnClose(false)
	closeListener := func() {
		ln.Close()
		os.Remove(s.cfg.Socket)
	}
	if err := os.Chmod(s.cfg.Socket, 0o600); err != nil {
		closeListener()
		return 0, err
	}

	var logw *jsonlog.Writer
	var logf *os.File
	if s.cfg.LogPath != "" {
		logf, err = os.OpenFile(s.cfg.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			closeListener()
			return 0, fmt.Errorf("open container log: %w", err)
		}
		defer logf.Close()
		logw = jsonlog.NewWriter(logf)
	}

	stdio, parentEnds, err := s.init.makeStdio(s.cfg.ConsoleWidth, s.cfg.ConsoleHeight)
	if err != nil {
		closeListener()
		return 0, err
	}
	s.reapMu.Lock()
	created, err := s.rt.Create(ctx, stdio)
	s.reapMu.Unlock()
	closeChildEnds(stdio)
	if err == nil && s.cfg.Terminal && created.Console == nil {
		err = errors.New("runtime created a terminal container without returning the console")
	}
	if err != nil {
		closeFiles(parentEnds)
		closeListener()
		s.reap() // whatever the runtime left exiting
		return 0, err
	}
	s.initPid = created.Pid
	s.pid = created.Pid
	if created.ContainerPid > 0 {
		s.pid = created.ContainerPid
	}
	s.init.setStdio(parentEnds, created.Console, s.cfg.ConsoleWidth, s.cfg.ConsoleHeight)
	s.status = exec.StatusCreated
	if err := writeJSON(s.dir, StatusFile, statusRecord{Status: exec.StatusCreated, Pid: s.pid}); err != nil {
		unix.Kill(created.Pid, unix.SIGKILL)
		closeListener()
		s.reap()
		s.rt.Destroy(ctx)
		return 0, err
	}
	report(syncMessage{Pid: s.pid, Identity: ident})

	s.init.startCopiers(logw)
	go s.serve(ctx, ln)
	// The reaper runs until the process ends: orphans may exit after the
	// init.
	go func() {
		s.reap()
		for range sigchld {
			s.reap()
		}
	}()

	<-s.exited
	status := waitStatus(s.waitSt)
	s.init.drainOutput(outputGrace)

	status = s.rt.Exited(ctx, status)
	rec := exitRecord{Code: status.Code, OOMKilled: status.OOMKilled, Error: status.Error, FinishedAt: time.Now().UTC()}
	// Written (atomically) before anyone is told, made durable after:
	// an fsync on a disk busy with other writers can take many seconds
	// (ext4 commits the whole journal), and nothing the daemon does may
	// wait for it. A process sees the record at once either way; only a
	// host crash in between loses it, and the exec root usually does not
	// survive a reboot anyway.
	if err := writeJSON(s.dir, ExitFile, rec); err != nil {
		// Still tell the waiters; the driver will see "supervisor died"
		// later, which is the truth about the record.
		fmt.Fprintf(os.Stderr, "supervisor: record exit status: %v\n", err)
	}
	if err := s.rt.Destroy(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "supervisor: destroy: %v\n", err)
	}
	// Exec processes end with the container; their clients hear of it
	// before the container's waiters do.
	s.endExecs()

	s.init.finish(rec)
	s.mu.Lock()
	s.status = exec.StatusStopped
	s.mu.Unlock()
	if logf != nil {
		logf.Sync()
	}
	fsyncPath(s.dir, ExitFile)

	s.linger()
	closeListener()
	drained := make(chan struct{})
	go func() { s.conns.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainGrace):
	}
	return 0, nil
}

// linger waits lingerGrace, or less once a Wait was answered and no
// connection is being handled.
func (s *supervisor) linger() {
	deadline := time.Now().Add(lingerGrace)
	for time.Now().Before(deadline) {
		if s.waitAnswered.Load() && s.active.Load() == 0 {
			return
		}
		time.Sleep(lingerPoll)
	}
}

// reap reaps every exited child, hands exec processes' statuses to them,
// and reports whether the init is among those reaped so far. It does
// nothing while the Runtime creates, starts or execs (reapMu).
func (s *supervisor) reap() bool {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
		if pid == s.initPid && s.initPid > 0 {
			s.waitSt = ws
			s.initPid = 0
			close(s.exited)
		} else if x := s.execOf[pid]; x != nil {
			delete(s.execOf, pid)
			x.reaped(waitStatus(ws))
		}
	}
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

func waitStatus(ws syscall.WaitStatus) exec.ExitStatus {
	switch {
	case ws.Exited():
		return exec.ExitStatus{Code: ws.ExitStatus()}
	case ws.Signaled():
		return exec.ExitStatus{Code: 128 + int(ws.Signal())}
	}
	return exec.ExitStatus{Code: 128, Error: fmt.Sprintf("unexpected wait status %#x", uint32(ws))}
}

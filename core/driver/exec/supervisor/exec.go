package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// RuntimeExecer is the part of a Runtime that runs additional processes in
// the container (exec.Execer, docker exec). A Runtime without it makes the
// supervisor answer exec requests as not implemented.
//
// Exec is called from the supervisor's request handler while the
// container runs, possibly concurrently with Signal handling but never
// with Create, Start, another Exec or the reaper: the supervisor reaps
// nothing while Exec runs, so the Runtime may wait for helper processes of
// its own there.
type RuntimeExecer interface {
	// Exec starts spec.Process in the container with stdio (as for
	// Create: pipes made by the supervisor, or Stdio.Terminal, and then
	// the Runtime makes the pseudo-terminal and returns its master in
	// Created.Console) and returns once the program runs.
	//
	// Created.Pid must be a child of the supervisor by the time Exec
	// returns (directly, or reparented to the supervisor, which is a
	// child subreaper, as runc's setns process is): the supervisor reaps
	// it and records its exit status (128+N for a signal) as the exec's.
	// Created.ContainerPid is the pid users see when that is another
	// process (an attaching tool that waits for the real program; such a
	// Runtime also implements ExecExiter to record the program's status
	// rather than the tool's).
	//
	// Errors are classed as for exec.Execer.Exec (InvalidParameter for a
	// program that cannot run, ...); on error nothing is left running.
	Exec(ctx context.Context, spec exec.ExecSpec, stdio Stdio) (Created, error)
}

// ExecExiter is the part of a RuntimeExecer that adjusts an exec
// process's exit status before it is recorded, as Runtime.Exited does for
// the init: for a Runtime whose reaped process is an attaching tool that
// reports its program's end its own way (a program killed by a signal
// must be recorded as 128+N). It is called once per exec process, from
// the goroutine that records its end; Runtimes that reap the program
// itself need not implement it.
type ExecExiter interface {
	ExecExited(ctx context.Context, id string, status exec.ExitStatus) exec.ExitStatus
}

// ExecInfo describes one exec process of a container.
type ExecInfo struct {
	ID string `json:"id"`
	// Pid is the process as users see it in the host's pid namespace.
	Pid       int  `json:"pid"`
	Running   bool `json:"running"`
	Terminal  bool `json:"terminal"`
	OpenStdin bool `json:"open_stdin"`
	// Exit and FinishedAt are set once the process ended.
	Exit       *exec.ExitStatus `json:"exit,omitempty"`
	FinishedAt time.Time        `json:"finished_at"`
}

// execProc is one exec process.
type execProc struct {
	*proc
	id  string
	pid int // as reported (Created.ContainerPid or Created.Pid)

	reapedOnce sync.Once
	exitedCh   chan struct{} // closed by reaped
	status     exec.ExitStatus
}

// reaped is called by the reaper, under reapMu, with the process's status.
func (x *execProc) reaped(st exec.ExitStatus) {
	x.reapedOnce.Do(func() {
		x.status = st
		close(x.exitedCh)
	})
}

// finishWhenExited records the exit once the process was reaped and its
// held output released and copied (a process that exited before its
// client attached keeps its output until then). adjust, when not nil, is
// the Runtime's ExecExiter.
func (x *execProc) finishWhenExited(ctx context.Context, adjust ExecExiter) {
	<-x.exitedCh
	<-x.released()
	x.drainOutput(outputGrace)
	st := x.status
	if adjust != nil {
		st = adjust.ExecExited(ctx, x.id, st)
	}
	x.finish(exitRecord{Code: st.Code, OOMKilled: st.OOMKilled, Error: st.Error, FinishedAt: time.Now().UTC()})
}

func (x *execProc) info() ExecInfo {
	info := ExecInfo{ID: x.id, Pid: x.pid, Running: true, Terminal: x.terminal, OpenStdin: x.openStdin}
	if rec := x.exitRecord(); rec != nil {
		st := rec.status()
		info.Running, info.Pid, info.Exit, info.FinishedAt = false, 0, &st, rec.FinishedAt
	}
	return info
}

// exec starts an exec process through the Runtime.
func (s *supervisor) exec(ctx context.Context, spec exec.ExecSpec) (ExecInfo, error) {
	rtx, ok := s.rt.(RuntimeExecer)
	if !ok {
		return ExecInfo{}, errdefs.NotImplemented(fmt.Errorf("the runtime of container %s cannot run exec processes", s.cfg.ID))
	}
	if spec.ID == "" {
		return ExecInfo{}, errdefs.InvalidParameter(errors.New("exec without an id"))
	}
	if len(spec.Process.Args) == 0 {
		return ExecInfo{}, errdefs.InvalidParameter(errors.New("no command specified"))
	}
	p := spec.Process
	x := &execProc{
		proc:     newProc(p.Terminal, p.OpenStdin, p.StdinOnce, spec.Attached),
		id:       spec.ID,
		exitedCh: make(chan struct{}),
	}
	// Reserve the id (a nil entry: lookups do not see the exec until it
	// is set up and published below), refusing a container that is not
	// running.
	s.mu.Lock()
	_, taken := s.execs[spec.ID]
	switch {
	case s.status != exec.StatusRunning || s.ending:
		status := s.status
		if s.ending {
			status = exec.StatusStopped
		}
		s.mu.Unlock()
		return ExecInfo{}, errdefs.Conflict(fmt.Errorf("container %s is %s, not running", s.cfg.ID, status))
	case taken:
		s.mu.Unlock()
		return ExecInfo{}, errdefs.Conflict(fmt.Errorf("container %s already has an exec %s", s.cfg.ID, spec.ID))
	}
	s.execs[spec.ID] = nil
	s.mu.Unlock()
	unreserve := func() {
		s.mu.Lock()
		delete(s.execs, spec.ID)
		s.mu.Unlock()
	}

	stdio, ends, err := x.makeStdio(p.ConsoleWidth, p.ConsoleHeight)
	if err != nil {
		unreserve()
		return ExecInfo{}, err
	}
	s.reapMu.Lock()
	if s.initPid == 0 {
		// The init was reaped since the check above.
		s.reapMu.Unlock()
		closeChildEnds(stdio)
		closeFiles(ends)
		unreserve()
		return ExecInfo{}, errdefs.Conflict(fmt.Errorf("container %s is %s, not running", s.cfg.ID, exec.StatusStopped))
	}
	created, err := rtx.Exec(ctx, spec, stdio)
	if err == nil && p.Terminal && created.Console == nil {
		unix.Kill(created.Pid, unix.SIGKILL)
		err = errors.New("runtime started a terminal exec without returning the console")
	}
	if err == nil {
		s.execOf[created.Pid] = x
	}
	s.reapMu.Unlock()
	closeChildEnds(stdio)
	if err != nil {
		closeFiles(ends)
		unreserve()
		s.reap() // whatever the runtime left exiting
		return ExecInfo{}, err
	}
	x.pid = created.Pid
	if created.ContainerPid > 0 {
		x.pid = created.ContainerPid
	}
	x.setStdio(ends, created.Console, p.ConsoleWidth, p.ConsoleHeight)
	x.startCopiers(nil)
	adjust, _ := s.rt.(ExecExiter)
	go x.finishWhenExited(context.WithoutCancel(ctx), adjust)
	// Published only now that its pid and stdio are set, which attach,
	// resize and info read without a lock.
	s.mu.Lock()
	s.execs[spec.ID] = x
	s.mu.Unlock()
	return x.info(), nil
}

// lookupExec returns the exec process id.
func (s *supervisor) lookupExec(id string) (*execProc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.execs[id]; x != nil {
		return x, nil
	}
	return nil, errdefs.NotFound(fmt.Errorf("container %s has no exec %s", s.cfg.ID, id))
}

// endExecGrace bounds how long the supervisor waits for exec processes to
// be reaped and report once the container ended.
const endExecGrace = 2 * time.Second

// endExecs ends the exec processes once the init exited and the Runtime
// destroyed the container (which killed them with the pid namespace or
// the cgroup): output nobody attached to is released, a process still
// not reaped is killed, and each reports its exit to its clients.
func (s *supervisor) endExecs() {
	s.mu.Lock()
	s.ending = true
	execs := make([]*execProc, 0, len(s.execs))
	for _, x := range s.execs {
		// One still being started (nil) is not waited for: its
		// process ends with the container all the same.
		if x != nil {
			execs = append(execs, x)
		}
	}
	s.mu.Unlock()
	if len(execs) == 0 {
		return
	}
	for _, x := range execs {
		x.release()
	}
	// Reaped by now, normally: the pid namespace's end kills them.
	waitAll := func() bool {
		timeout := time.NewTimer(endExecGrace)
		defer timeout.Stop()
		for _, x := range execs {
			select {
			case <-x.done:
			case <-timeout.C:
				return false
			}
		}
		return true
	}
	if waitAll() {
		return
	}
	// Some process escaped the container's end (a shared pid namespace
	// and its own cgroup). Not reaped, it is still our child, so its pid
	// cannot have been reused.
	s.reapMu.Lock()
	for pid := range s.execOf {
		unix.Kill(pid, unix.SIGKILL)
	}
	s.reapMu.Unlock()
	if !waitAll() {
		fmt.Fprintf(os.Stderr, "supervisor: exec processes of container %s did not end\n", s.cfg.ID)
	}
}

// ExecIn is the rest of a driver's exec.Execer.Exec once it has read the
// container's State (with StatusPaused where it can tell): it refuses a
// container that is not running with a Conflict error, then asks the
// container's supervisor to start the process.
func ExecIn(ctx context.Context, st exec.State, spec exec.ExecSpec) (exec.ExecState, error) {
	if st.Status != exec.StatusRunning || st.Supervisor == "" {
		return exec.ExecState{}, errdefs.Conflict(fmt.Errorf("container %s is %s, not running", st.ID, st.Status))
	}
	c, err := Dial(ctx, st.Supervisor)
	if err != nil {
		return exec.ExecState{}, err
	}
	info, err := c.Exec(ctx, spec)
	if err != nil {
		return exec.ExecState{}, err
	}
	return exec.ExecState{ID: info.ID, Pid: info.Pid, Supervisor: st.Supervisor}, nil
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/daemon/execconfig"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// execFailedCode is the exit code of an exec whose process could not be
// run or whose end was not seen: Docker 1.7 never left ExitCode at zero
// after an error (daemon/exec.go).
const execFailedCode = 128

// execInstance is one docker exec (Docker 1.7's execConfig). It lives in
// the daemon's memory only, from POST /containers/{id}/exec until its
// container's run ends or the container is removed, as in Docker 1.7
// (Container.cleanup unregistered them); a restarted daemon knows none.
type execInstance struct {
	id          string
	containerID string
	cfg         execconfig.Config // User already defaulted

	mu       sync.Mutex
	started  bool
	running  bool
	exitCode int
	// runID names the current run at the supervisor: the exec id, and a
	// fresh id for each later run (Docker 1.7 ran a finished exec again
	// when started again; the supervisor keeps ended runs under their id).
	runID string
	// ready is closed once the driver answered the current run's Exec:
	// sup is then set, or the run failed. The client has its stream
	// before that (and resizes it at once, as the CLI does).
	ready chan struct{}
	sup   *supervisor.Client
}

// cmdline is the command as Docker 1.7's exec events showed it:
// entrypoint, a space, the arguments joined by spaces.
func (x *execInstance) cmdline() string {
	return x.cfg.Cmd[0] + " " + strings.Join(x.cfg.Cmd[1:], " ")
}

// ended records how run runID ended; the first report wins (the
// attached stream's exit frame and the waiter report the same status).
func (x *execInstance) ended(runID string, code int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.running && x.runID == runID {
		x.running, x.exitCode = false, code
	}
}

// ExecCreate sets up an exec instance in a running container (POST
// /containers/{id}/exec) and returns its id; nothing runs until ExecStart.
// The checks are Docker 1.7's, in its order: a command, a driver that can
// exec, the container, running and not paused (409 here; Docker 1.7 said
// the same words with a 500).
func (s *Containers) ExecCreate(ctx context.Context, ref string, cfg execconfig.Config) (string, error) {
	if len(cfg.Cmd) == 0 {
		return "", errdefs.InvalidParameter(errors.New("No exec command specified"))
	}
	if s.exec == nil {
		return "", errNoExecDriver
	}
	if _, err := s.execer(); err != nil {
		return "", err
	}
	if cfg.Tty {
		if err := s.requireCapability(capTty); err != nil {
			return "", err
		}
	}
	c, _, err := s.get(ref)
	if err != nil {
		return "", err
	}
	c.Lock()
	running, paused := c.State.Running, c.State.Paused
	if cfg.User == "" {
		cfg.User = c.Config.User
	}
	c.Unlock()
	if !running {
		return "", errdefs.Conflict(fmt.Errorf("Container %s is not running", ref))
	}
	if paused {
		return "", errdefs.Conflict(fmt.Errorf("Container %s is paused, unpause the container before exec", ref))
	}
	cfg.Cmd = slices.Clone(cfg.Cmd)
	x := &execInstance{id: container.NewID(), containerID: c.ID, cfg: cfg}
	s.execMu.Lock()
	s.execs[x.id] = x
	s.execMu.Unlock()
	s.event(c, "exec_create: "+x.cmdline())
	return x.id, nil
}

// lookupExec finds exec id and its container, which must be running
// (Docker 1.7's getExecConfig, for start, resize and inspect alike).
func (s *Containers) lookupExec(id string) (*execInstance, *container.Container, *live, error) {
	s.execMu.Lock()
	x := s.execs[id]
	s.execMu.Unlock()
	if x == nil {
		return nil, nil, nil, errdefs.NotFound(fmt.Errorf("No such exec instance '%s' found in daemon", id))
	}
	c, l, err := s.get(x.containerID)
	if err != nil {
		return nil, nil, nil, errdefs.NotFound(fmt.Errorf("No such exec instance '%s' found in daemon", id))
	}
	if !isRunning(c) {
		return nil, nil, nil, errdefs.Conflict(fmt.Errorf("Container %s is not running", c.ID))
	}
	return x, c, l, nil
}

// forgetExecs drops the exec instances of container id: its run ended or
// it was removed.
func (s *Containers) forgetExecs(id string) {
	s.execMu.Lock()
	defer s.execMu.Unlock()
	for xid, x := range s.execs {
		if x.containerID == id {
			delete(s.execs, xid)
		}
	}
}

// ExecIDs lists the exec instances of container id (inspect's ExecIDs;
// nil when there are none, which Docker 1.7 sent as null).
func (s *Containers) ExecIDs(ctx context.Context, id string) []string {
	s.execMu.Lock()
	defer s.execMu.Unlock()
	var ids []string
	for xid, x := range s.execs {
		if x.containerID == id {
			ids = append(ids, xid)
		}
	}
	slices.Sort(ids)
	return ids
}

// ExecStart runs an exec instance (POST /exec/{id}/start). Detached, the
// process's output is dropped and ExecStart returns once it runs.
// Otherwise it attaches to the process on the container's supervisor
// right after the driver started it (the supervisor holds the output until
// then), calls opts.Streams and copies both ways until the output ends;
// the exit code is recorded before it returns, so a client that inspects
// the exec once its stream ended finds it. Starting a running instance is
// a Conflict (Docker 1.7's words; it answered 500); starting an ended one
// runs it again, as Docker 1.7 did.
func (s *Containers) ExecStart(ctx context.Context, id string, opts execconfig.StartOptions) error {
	execer, err := s.execer()
	if err != nil {
		return err
	}
	x, c, _, err := s.lookupExec(id)
	if err != nil {
		return err
	}
	x.mu.Lock()
	if x.running {
		x.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("Error: Exec command %s is already running", id))
	}
	runID := x.id
	if x.started {
		runID = container.NewID()
	}
	ready := make(chan struct{})
	x.started, x.running, x.runID, x.sup, x.ready = true, true, runID, nil, ready
	x.mu.Unlock()
	defer closeOnce(ready)
	s.event(c, "exec_start: "+x.cmdline())

	c.Lock()
	rec := c.Snapshot()
	paused := c.State.Paused
	c.Unlock()
	if paused {
		x.ended(runID, execFailedCode)
		return errdefs.Conflict(fmt.Errorf("Container %s is paused, unpause the container before exec", rec.ID))
	}
	// The process is started even if the client goes away meanwhile; the
	// attachment below has its own lifetime.
	ctx = context.WithoutCancel(ctx)
	if opts.Detach {
		_, err := s.runExec(ctx, execer, x, runID, &rec, false)
		return err
	}
	// The client gets its stream first, as from Docker 1.7: a process
	// that cannot run is then reported in it (the router writes the
	// error to stderr), and the exit code is -1.
	streams, err := opts.Streams()
	if err != nil {
		x.ended(runID, execFailedCode)
		return err
	}
	sup, err := s.runExec(ctx, execer, x, runID, &rec, true)
	if err != nil {
		return err
	}
	// Not the request's context: reading the client's half-close (end of
	// stdin) through the hijacked reader cancels it in net/http, and the
	// output must go on. Closing the connection ends the attachment.
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	a, err := sup.AttachExec(actx, runID, supervisor.AttachOptions{
		Stdin:  x.cfg.AttachStdin && streams.Stdin != nil,
		Stdout: x.cfg.AttachStdout && streams.Stdout != nil,
		Stderr: x.cfg.AttachStderr && streams.Stderr != nil,
	})
	if err != nil {
		return fmt.Errorf("attach to exec %s: %w", id, err)
	}
	defer a.Close()
	if err := pump(a, streams); err != nil {
		return err
	}
	// Without output streams pump returns at once; the process's end
	// still ends the request.
	if status, err := a.Exit(); err == nil {
		x.ended(runID, status.Code)
	}
	return nil
}

// runExec has the driver start run runID of x (attached: its output held
// for the attachment that follows) and watches for its end. A process
// that cannot run ends the run with ExitCode -1, as libcontainer's failure
// left it in Docker 1.7.
func (s *Containers) runExec(ctx context.Context, execer exec.Execer, x *execInstance, runID string, rec *container.Record, attached bool) (*supervisor.Client, error) {
	st, err := execer.Exec(ctx, rec.ID, s.execSpec(x, runID, rec, attached))
	if err != nil {
		x.ended(runID, -1)
		return nil, runError(fmt.Errorf("Cannot run exec command %s in container %s: %w", x.id, rec.ID, err))
	}
	sup, err := supervisor.Dial(ctx, st.Supervisor)
	if err != nil {
		x.ended(runID, execFailedCode)
		return nil, fmt.Errorf("exec %s: connect to the container's supervisor: %w", x.id, err)
	}
	x.mu.Lock()
	x.sup = sup
	x.mu.Unlock()
	closeOnce(x.ready)
	s.watchExec(x, runID, sup)
	return sup, nil
}

// execSpec is what the driver runs for x: the container's environment,
// working directory and (by default) user, as Docker 1.7's exec had.
func (s *Containers) execSpec(x *execInstance, runID string, rec *container.Record, attached bool) exec.ExecSpec {
	return exec.ExecSpec{
		ID: runID,
		Process: exec.Process{
			Args:      x.cfg.Cmd,
			Env:       containerEnv(rec.Config),
			Cwd:       rec.Config.WorkingDir,
			User:      x.cfg.User,
			Terminal:  x.cfg.Tty,
			OpenStdin: x.cfg.AttachStdin,
			// Docker 1.7 attached an exec's stdin with StdinOnce.
			StdinOnce: x.cfg.AttachStdin,
		},
		Privileged: x.cfg.Privileged,
		Attached:   attached,
	}
}

// watchExec records the exit of a started exec, whether or not a client
// stays attached. A supervisor that goes away without an answer (it died)
// ends the exec with execFailedCode. It stops at daemon shutdown.
func (s *Containers) watchExec(x *execInstance, runID string, sup *supervisor.Client) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		status, _, err := sup.WaitExec(s.ctx, runID)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("waiting on exec failed", "exec", x.id, "container", x.containerID, "err", err)
			status.Code = execFailedCode
		}
		x.ended(runID, status.Code)
	}()
}

// ExecResize sets the terminal size of a started exec (POST
// /exec/{id}/resize); without a terminal it does nothing.
func (s *Containers) ExecResize(ctx context.Context, id string, height, width int) error {
	h, w, err := termSize(height, width)
	if err != nil {
		return err
	}
	x, _, _, err := s.lookupExec(id)
	if err != nil {
		return err
	}
	x.mu.Lock()
	ready := x.ready
	x.mu.Unlock()
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	x.mu.Lock()
	sup, runID := x.sup, x.runID
	x.mu.Unlock()
	if sup == nil {
		// Docker 1.7 dropped the connection here (a nil terminal).
		return errdefs.Conflict(fmt.Errorf("Exec %s is not running", id))
	}
	return sup.ResizeExec(ctx, runID, w, h)
}

// ExecInspect describes an exec instance (GET /exec/{id}/json).
func (s *Containers) ExecInspect(ctx context.Context, id string) (*execconfig.Inspect, error) {
	x, c, _, err := s.lookupExec(id)
	if err != nil {
		return nil, err
	}
	c.Lock()
	rec := c.Snapshot()
	c.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	return &execconfig.Inspect{
		ID:         x.id,
		Running:    x.running,
		ExitCode:   x.exitCode,
		Privileged: x.cfg.Privileged,
		User:       x.cfg.User,
		Tty:        x.cfg.Tty,
		Entrypoint: x.cfg.Cmd[0],
		Arguments:  slices.Clone(x.cfg.Cmd[1:]),
		OpenStdin:  x.cfg.AttachStdin,
		OpenStdout: x.cfg.AttachStdout,
		OpenStderr: x.cfg.AttachStderr,
		Container:  rec,
	}, nil
}

// closeOnce closes ch unless it is closed already; only the goroutine
// running the start closes it, so the check does not race.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// attachGrace bounds how long start waits for early attachers to connect
// to the supervisor before it lets the program run.
const attachGrace = 5 * time.Second

// Start runs a created or exited container (POST /containers/{id}/start).
// hc, when not nil, replaces the host configuration first (the v1.19 doc
// still accepts one in the body). A running container is NotModified
// (304). A program that cannot run leaves the container not running with
// State.Error set and ExitCode -1, as Docker 1.7's monitor did.
func (s *Containers) Start(ctx context.Context, ref string, hc *container.HostConfig) error {
	c, l, err := s.get(ref)
	if err != nil {
		return err
	}
	if s.exec == nil {
		return errNoExecDriver
	}
	if hc != nil {
		if err := s.checkHostConfig(hc); err != nil {
			return err
		}
	}
	c.Lock()
	cfg, effective := c.Config, c.HostConfig
	c.Unlock()
	if hc != nil {
		effective = hc
	}
	if err := s.checkDriverCapabilities(cfg, effective); err != nil {
		return err
	}
	// The start completes even if the client goes away: a half-started
	// container is worse than an unwanted one.
	ctx = context.WithoutCancel(ctx)
	l.op.Lock()
	defer l.op.Unlock()

	c.Lock()
	if l.removed {
		c.Unlock()
		return errdefs.NotFound(fmt.Errorf("no such id: %s", ref))
	}
	if c.State.Running {
		c.Unlock()
		return errdefs.NotModified(errors.New("Container already started"))
	}
	monitorDone := l.monitorDone
	c.Unlock()
	// The previous run's monitor must have released everything.
	if monitorDone != nil {
		<-monitorDone
	}

	c.Lock()
	if hc != nil {
		c.HostConfig = hc
	}
	// Inspect's ExecDriver is the driver that runs the container now:
	// the daemon may have been restarted with another since the create.
	c.ExecDriver = s.execInfo.Name
	c.LogPath = filepath.Join(s.store.Dir(c.ID), container.LogFileName(c.ID))
	rec := c.Snapshot()
	c.Unlock()

	if err := s.start(ctx, c, l, &rec); err != nil {
		// Docker 1.7: "Cannot start container <id>: <reason>"; its error
		// classes came from the words, so a missing program ("executable
		// file not found") was a 404.
		msg := err.Error()
		c.Lock()
		c.State.Running = false
		c.State.Pid = 0
		c.State.ExitCode = -1
		c.State.Error = msg
		if serr := s.store.Save(c); serr != nil {
			s.log.Error("save container", "id", c.ID, "err", serr)
		}
		s.dieEvent(c) // Docker 1.7's monitor: a failed start is a die
		c.Notify()
		c.Unlock()
		return runError(fmt.Errorf("Cannot start container %s: %w", rec.ID, err))
	}
	s.event(c, "start")
	return nil
}

// runError classes the driver's failure to run a program (a container's
// or an exec's). Docker 1.7's error classes came from the words, so a
// missing program ("executable file not found") was a 404; what the
// driver refuses in the request itself (an LXC key LXC does not know, a
// bad device, a bad user) is the client's to fix: 400, naming it, as the
// issue asks of LxcConf; anything unclassed is the daemon's (500).
func runError(err error) error {
	class := errdefs.ClassOf(err)
	if class != errdefs.InvalidParameterClass && class != errdefs.Unknown {
		return err
	}
	low := strings.ToLower(err.Error())
	if strings.Contains(low, "not found") || strings.Contains(low, "no such") {
		return errdefs.NotFound(err)
	}
	if class == errdefs.InvalidParameterClass {
		return err
	}
	return errdefs.System(err)
}

// start mounts the rootfs, creates the container in the driver, connects
// the waiting attachers and starts the program, undoing on failure.
func (s *Containers) start(ctx context.Context, c *container.Container, l *live, rec *container.Record) (err error) {
	rootfs, err := s.storage.Get(ctx, rec.ID, storage.GetOptions{MountLabel: rec.MountLabel})
	if err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	created := false
	defer func() {
		if err == nil {
			return
		}
		if created {
			// The supervisor exits once its container is gone.
			s.exec.Signal(ctx, rec.ID, syscall.SIGKILL)
			s.waitDriverStopped(ctx, rec.ID)
			if derr := s.exec.Delete(ctx, rec.ID); derr != nil && !errdefs.IsNotFound(derr) {
				s.log.Warn("delete after failed start", "id", rec.ID, "err", derr)
			}
		}
		if perr := s.storage.Put(ctx, rec.ID); perr != nil {
			s.log.Warn("unmount after failed start", "id", rec.ID, "err", perr)
		}
		c.Lock()
		l.sup = nil
		c.Unlock()
	}()
	spec, err := s.buildSpec(rec, rootfs)
	if err != nil {
		return err
	}
	st, err := s.exec.Create(ctx, spec)
	if err != nil {
		return err
	}
	created = true
	sup, err := supervisor.Dial(ctx, st.Supervisor)
	if err != nil {
		return fmt.Errorf("connect to the container's supervisor: %w", err)
	}
	c.Lock()
	l.sup = sup
	waiters := l.waiters
	l.waiters = nil
	c.Unlock()
	s.connectWaiters(waiters, sup)

	st, err = s.exec.Start(ctx, rec.ID)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	c.Lock()
	l.mounted = true
	l.monitorDone = done
	c.State.SetRunning(st.Pid, st.StartedAt)
	if st.StartedAt.IsZero() {
		c.State.StartedAt = time.Now().UTC()
	}
	if serr := s.store.Save(c); serr != nil {
		s.log.Error("save container", "id", c.ID, "err", serr)
	}
	c.Notify()
	c.Unlock()
	s.wg.Add(1)
	go s.monitor(c, l, sup, done)
	return nil
}

// connectWaiters hands the supervisor to the attachers that arrived
// before the start and waits (bounded) until each has attached.
func (s *Containers) connectWaiters(waiters []*attachWaiter, sup *supervisor.Client) {
	if len(waiters) == 0 {
		return
	}
	t := time.NewTimer(attachGrace)
	defer t.Stop()
	for _, w := range waiters {
		w.sup <- sup
	}
	for _, w := range waiters {
		select {
		case <-w.attached:
		case <-t.C:
			s.log.Warn("an attach request did not connect in time; starting anyway")
			return
		}
	}
}

// waitDriverStopped polls the driver until the container is stopped, for a
// short while (cleanup after a failed start).
func (s *Containers) waitDriverStopped(ctx context.Context, id string) {
	for range 50 {
		st, err := s.exec.State(ctx, id)
		if err != nil || st.Status == exec.StatusStopped || st.Status == exec.StatusCreated && st.Supervisor == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// supervisorGoneWait bounds how long finishRun waits for a supervisor to
// exit after its container did (a slow attached client holds it).
const supervisorGoneWait = 10 * time.Second

// waitSupervisorGone waits until nothing answers on the supervisor's
// socket any more, for at most supervisorGoneWait. The driver's State
// cannot tell: it reports Stopped (and no socket) as soon as the exit is
// recorded, while the supervisor still serves its last output.
func (s *Containers) waitSupervisorGone(ctx context.Context, socket string) {
	deadline := time.Now().Add(supervisorGoneWait)
	var d net.Dialer
	for time.Now().Before(deadline) {
		conn, err := d.DialContext(ctx, "unix", socket)
		if err != nil {
			return
		}
		conn.Close()
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.log.Warn("supervisor still running after its container exited", "socket", socket)
}

// monitor waits for the run's exit and records it: exit code, time, OOM,
// then the driver state is deleted and the rootfs released. When the
// supervisor connection drops without a status, the driver's State says
// what happened (a dead supervisor is an exit with its Error).
func (s *Containers) monitor(c *container.Container, l *live, sup *supervisor.Client, done chan struct{}) {
	defer s.wg.Done()
	ctx := s.ctx
	id := c.ID
	var (
		status exec.ExitStatus
		at     time.Time
	)
	for attempt := 0; ; attempt++ {
		var err error
		status, at, err = sup.Wait(ctx)
		if ctx.Err() != nil {
			// Daemon shutdown: the container runs on; restore takes over.
			return
		}
		if err == nil {
			break
		}
		st, serr := s.exec.State(ctx, id)
		if serr == nil && st.Status == exec.StatusStopped {
			status, at = st.Exit, st.FinishedAt
			break
		}
		if serr == nil && st.Supervisor != "" && attempt < 10 {
			// A transient failure: the supervisor still runs.
			s.log.Warn("waiting on supervisor failed; retrying", "id", id, "err", err)
			select {
			case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			if nsup, derr := supervisor.Dial(ctx, st.Supervisor); derr == nil {
				sup = nsup
			}
			continue
		}
		msg := "supervisor lost: " + err.Error()
		if serr != nil {
			msg += "; driver state: " + serr.Error()
		}
		status = exec.ExitStatus{Code: 128 + int(syscall.SIGKILL), Error: msg}
		break
	}
	s.finishRun(ctx, c, l, sup, status, at)
	close(done)
}

// finishRun records an exit and releases the run's resources.
func (s *Containers) finishRun(ctx context.Context, c *container.Container, l *live, sup *supervisor.Client, status exec.ExitStatus, at time.Time) {
	id := c.ID
	// Delete is for a container whose supervisor has exited (exec
	// contract); it exits right after Wait answered, once attached
	// clients have the last output.
	if sup != nil {
		s.waitSupervisorGone(ctx, sup.Socket())
	}
	if err := s.exec.Delete(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		s.log.Warn("delete container from the exec driver", "id", id, "err", err)
	}
	c.Lock()
	mounted := l.mounted
	l.mounted, l.sup = false, nil
	c.Unlock()
	if mounted {
		if err := s.storage.Put(ctx, id); err != nil {
			s.log.Warn("unmount container rootfs", "id", id, "err", err)
		}
	}
	// Docker 1.7's Container.cleanup forgot the run's exec instances.
	s.forgetExecs(id)
	c.Lock()
	c.State.SetStopped(status.Code, status.OOMKilled, status.Error, at)
	if err := s.store.Save(c); err != nil {
		s.log.Error("save container", "id", id, "err", err)
	}
	s.dieEvent(c)
	c.Notify()
	c.Unlock()
	s.log.Info("container exited", "id", id, "code", status.Code, "oom", status.OOMKilled, "error", status.Error)
}

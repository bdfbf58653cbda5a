package daemon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// lostExitCode is recorded for a container whose status nobody kept: its
// processes died with their supervisor (SIGKILL, exec contract), which a
// shell reports as 128+9.
const lostExitCode = 128 + int(syscall.SIGKILL)

// restore reconciles the records with what the exec driver still holds
// after a daemon restart. Unlike Docker 1.7, which killed every container
// at startup, pluggd's containers outlive the daemon: live ones are
// monitored again (and their rootfs reference re-taken), the others get
// the exit status their supervisor recorded, or the driver's Error.
func (s *Containers) restore(ctx context.Context) error {
	states := map[string]exec.State{}
	if s.exec != nil {
		list, err := s.exec.Restore(ctx)
		if err != nil {
			return err
		}
		for _, st := range list {
			states[st.ID] = st
		}
	}
	if err := s.checkForeignRunning(states); err != nil {
		return err
	}
	for _, c := range s.store.List() {
		st, known := states[c.ID]
		delete(states, c.ID)
		s.restoreOne(ctx, c, st, known)
	}
	// Driver state without a record: a create the daemon never recorded
	// (it died in between). Nothing can reach such a container.
	for id := range states {
		s.log.Warn("removing exec driver state of an unknown container", "id", id)
		s.exec.Signal(ctx, id, syscall.SIGKILL)
		s.waitDriverStopped(ctx, id)
		if err := s.exec.Delete(ctx, id); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("delete unknown container", "id", id, "err", err)
		}
	}
	return nil
}

// checkForeignRunning refuses to restore when containers the daemon last
// saw running under another exec driver (exec.driver was switched while
// they ran) are unknown to the running one and may still run: they started
// since this boot, under a supervisor only their own driver knows. Marking
// them exited would leave them running, unreachable, their rootfs mounted.
// The operator restarts pluggd with their driver and stops them first.
func (s *Containers) checkForeignRunning(known map[string]exec.State) error {
	boot := bootTime()
	var foreign []string
	for _, c := range s.store.List() {
		if _, ok := known[c.ID]; ok {
			continue
		}
		c.Lock()
		running, drv, started, name := c.State.Running, c.ExecDriver, c.State.StartedAt, c.Name
		c.Unlock()
		if running && drv != "" && drv != s.execInfo.Name && started.After(boot) {
			foreign = append(foreign, fmt.Sprintf("%s (%s, %s)", container.ShortID(c.ID), strings.TrimPrefix(name, "/"), drv))
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	return errdefs.Conflict(fmt.Errorf("containers still running under another execution driver than this daemon's %s: %s; start pluggd with that driver and stop them first",
		s.execInfo.Name, strings.Join(foreign, ", ")))
}

// bootTime is when this machine booted (/proc/stat btime); the zero time
// if unknown, so that every running record counts as possibly alive.
func bootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}

func (s *Containers) restoreOne(ctx context.Context, c *container.Container, st exec.State, known bool) {
	l := s.liveOf(c.ID)
	c.Lock()
	wasRunning := c.State.Running
	c.Unlock()
	live := known && (st.Status == exec.StatusRunning || st.Status == exec.StatusPaused) && st.Supervisor != ""
	if live {
		sup, err := supervisor.Dial(ctx, st.Supervisor)
		if err == nil {
			_, err = s.storage.Get(ctx, c.ID, storage.GetOptions{MountLabel: c.MountLabel})
		}
		if err == nil {
			done := make(chan struct{})
			c.Lock()
			l.sup, l.mounted, l.monitorDone = sup, true, done
			if !wasRunning || c.State.Pid != st.Pid {
				c.State.SetRunning(st.Pid, st.StartedAt)
			}
			c.State.Paused = st.Status == exec.StatusPaused
			if err := s.store.Save(c); err != nil {
				s.log.Error("save container", "id", c.ID, "err", err)
			}
			c.Unlock()
			s.log.Info("container restored", "id", c.ID, "pid", st.Pid)
			s.wg.Add(1)
			go s.monitor(c, l, sup, done)
			return
		}
		s.log.Warn("cannot reconnect to a running container; killing it", "id", c.ID, "err", err)
		s.exec.Signal(ctx, c.ID, syscall.SIGKILL)
		s.waitDriverStopped(ctx, c.ID)
		if st2, serr := s.exec.State(ctx, c.ID); serr == nil {
			st = st2
		}
		if st.Exit.Error == "" && st.Status != exec.StatusStopped {
			st.Exit = exec.ExitStatus{Code: lostExitCode, Error: "reconnecting to the supervisor failed: " + err.Error()}
		}
		st.Status = exec.StatusStopped
	}
	if known {
		if st.Status == exec.StatusCreated {
			// Created but never started: the daemon died mid-start.
			s.exec.Signal(ctx, c.ID, syscall.SIGKILL)
			s.waitDriverStopped(ctx, c.ID)
		}
		if err := s.exec.Delete(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("delete exited container from the exec driver", "id", c.ID, "err", err)
		}
	}
	if !wasRunning {
		return
	}
	c.Lock()
	defer c.Unlock()
	switch {
	case known && st.Status == exec.StatusStopped:
		c.State.SetStopped(st.Exit.Code, st.Exit.OOMKilled, st.Exit.Error, st.FinishedAt)
	default:
		c.State.SetStopped(lostExitCode, false, "the execution driver has no record of the container", time.Now())
	}
	if err := s.store.Save(c); err != nil {
		s.log.Error("save container", "id", c.ID, "err", err)
	}
	s.log.Info("container exited while the daemon was down", "id", c.ID, "code", c.State.ExitCode, "error", c.State.Error)
}

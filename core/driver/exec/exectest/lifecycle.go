package exectest

import (
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

func lifecycleChecks() []check {
	return []check{
		{name: "ExitZero", run: checkExitCode([]string{"true"}, 0)},
		{name: "ExitCode", run: checkExitCode([]string{"sh", "-c", "exit 3"}, 3)},
		{name: "StateTransitions", run: checkStateTransitions},
		{name: "DeleteRunningConflicts", run: checkDeleteRunning},
		{name: "DiscardCreated", run: checkDiscardCreated},
		{name: "StartTwiceConflicts", run: checkStartTwice},
		{name: "SupervisorExits", run: checkSupervisorExits},
		{name: "CgroupsRemoved", run: checkCgroupsRemoved},
		{name: "SupervisorKilled", run: checkSupervisorKilled},
	}
}

// checkExitCode runs args and expects code from Wait, the attachment and
// State.
func checkExitCode(args []string, code int) func(h *harness) {
	return func(h *harness) {
		spec := h.spec(args...)
		_, _, attached := h.output(spec)
		if attached.Code != code || attached.Error != "" {
			h.t.Errorf("attachment's exit status %+v, want code %d", attached, code)
		}
		st := h.waitStopped(spec.ID)
		if st.Exit.Code != code || st.Exit.Error != "" || st.Exit.OOMKilled {
			h.t.Errorf("State's exit status %+v, want code %d", st.Exit, code)
		}
		// Wait after the exit still answers, with the same status, as
		// long as the supervisor runs; it may have exited already.
		if c, err := supervisorClient(h, st); err == nil {
			ctx, cancel := h.callCtx()
			defer cancel()
			if got, _, err := c.Wait(ctx); err == nil && got.Code != code {
				h.t.Errorf("Wait after the exit returned %+v, want code %d", got, code)
			}
		}
	}
}

// checkStateTransitions follows one container from created to deleted and
// checks what State reports at each step.
func checkStateTransitions(h *harness) {
	spec := h.spec("sleep", "1000")
	created := h.create(spec)
	if created.SupervisorPid <= 0 || !alive(created.SupervisorPid) {
		h.t.Errorf("created: SupervisorPid %d is not a live process", created.SupervisorPid)
	}
	if !created.StartedAt.IsZero() || !created.FinishedAt.IsZero() {
		h.t.Errorf("created: StartedAt %v, FinishedAt %v, want both zero", created.StartedAt, created.FinishedAt)
	}
	if st := h.state(spec.ID); st.Status != exec.StatusCreated || st.Supervisor != created.Supervisor {
		h.t.Errorf("State after Create: %+v, want created with supervisor %s", st, created.Supervisor)
	}

	before := time.Now()
	started := h.start(spec.ID)
	after := time.Now()
	if started.Status != exec.StatusRunning {
		h.t.Errorf("Start returned status %v, want running", started.Status)
	}
	if started.Pid <= 0 || !alive(started.Pid) {
		h.t.Errorf("Start returned Pid %d, not a live process", started.Pid)
	}
	if started.StartedAt.Before(before.Add(-time.Second)) || started.StartedAt.After(after.Add(time.Second)) {
		h.t.Errorf("StartedAt %v is not within the Start call [%v, %v]", started.StartedAt, before, after)
	}
	running := h.state(spec.ID)
	if running.Status != exec.StatusRunning || running.Pid != started.Pid || !running.StartedAt.Equal(started.StartedAt) {
		h.t.Errorf("State while running: %+v, want running with Pid %d and StartedAt %v", running, started.Pid, started.StartedAt)
	}
	if running.SupervisorPid != created.SupervisorPid {
		h.t.Errorf("SupervisorPid changed from %d to %d", created.SupervisorPid, running.SupervisorPid)
	}

	h.signal(spec.ID, syscall.SIGKILL)
	exit, finishedAt := h.wait(created.Supervisor)
	if exit.Code != 137 {
		h.t.Errorf("Wait after SIGKILL: %+v, want code 137", exit)
	}
	stopped := h.waitStopped(spec.ID)
	if stopped.Exit.Code != 137 {
		h.t.Errorf("State's exit after SIGKILL: %+v, want code 137", stopped.Exit)
	}
	if stopped.Pid != 0 {
		h.t.Errorf("stopped: Pid %d, want 0", stopped.Pid)
	}
	if !stopped.StartedAt.Equal(started.StartedAt) {
		h.t.Errorf("stopped: StartedAt %v, want %v as when running", stopped.StartedAt, started.StartedAt)
	}
	if stopped.FinishedAt.Before(stopped.StartedAt) || stopped.FinishedAt.After(time.Now().Add(time.Second)) {
		h.t.Errorf("stopped: FinishedAt %v is not between StartedAt %v and now", stopped.FinishedAt, stopped.StartedAt)
	}
	if !finishedAt.IsZero() && !finishedAt.Equal(stopped.FinishedAt) {
		h.t.Errorf("Wait's exit time %v differs from State's FinishedAt %v", finishedAt, stopped.FinishedAt)
	}
	h.waitGone(started.Pid, "the container's init")
	// The supervisor goes once the status is recorded and nobody is
	// attached; State then no longer names its socket.
	h.waitGone(created.SupervisorPid, "the supervisor of a stopped container")
	gone := h.waitState(spec.ID, "the supervisor socket to be cleared", func(st exec.State) bool { return st.Supervisor == "" })
	if gone.Status != exec.StatusStopped || gone.Exit.Code != 137 {
		h.t.Errorf("State after the supervisor exited: %+v, want stopped with code 137", gone)
	}

	h.delete(spec.ID)
	assertGone(h, spec.ID)
}

// checkDeleteRunning: a running container cannot be deleted; once it has
// exited it can, and is gone.
func checkDeleteRunning(h *harness) {
	spec := h.spec("sleep", "1000")
	st := h.run(spec)
	ctx, cancel := h.callCtx()
	defer cancel()
	h.assertClass("Delete of a running container", h.d.Delete(ctx, spec.ID), errConflict)
	if cur := h.state(spec.ID); cur.Status != exec.StatusRunning || !alive(st.Pid) {
		h.t.Errorf("after the refused Delete the container is %v (init alive: %v), want it running", cur.Status, alive(st.Pid))
	}
	h.signal(spec.ID, syscall.SIGKILL)
	h.wait(st.Supervisor)
	h.waitStopped(spec.ID)
	h.delete(spec.ID)
	assertGone(h, spec.ID)
	h.assertClass("Delete of a deleted container", h.d.Delete(ctx, spec.ID), errNotFound)
}

// checkDiscardCreated: a created container that will not be started
// (docker run whose attach failed, a daemon stopping) can be discarded,
// with its supervisor and waiting init. The contract forbids deleting only
// running and paused containers, so Delete may remove it at once; a driver
// that answers Conflict instead must accept SIGKILL for it, after which it
// is stopped and Delete works. The daemon does the same: Delete, and on
// Conflict, Signal(SIGKILL) and Delete once stopped.
func checkDiscardCreated(h *harness) {
	spec := h.spec("sleep", "1000")
	st := h.create(spec)
	ctx, cancel := h.callCtx()
	defer cancel()
	err := h.d.Delete(ctx, spec.ID)
	if errdefs.IsConflict(err) {
		h.t.Logf("Delete of a created container: %v; discarding it with SIGKILL", err)
		h.signal(spec.ID, syscall.SIGKILL)
		h.waitStopped(spec.ID)
		err = h.d.Delete(ctx, spec.ID)
	}
	if err != nil {
		h.t.Fatalf("Delete of a created container: %v", err)
	}
	assertGone(h, spec.ID)
	h.waitGone(st.SupervisorPid, "the supervisor of a discarded created container")
}

// checkStartTwice: Start is for created containers only.
func checkStartTwice(h *harness) {
	spec := h.spec("sleep", "1000")
	st := h.run(spec)
	ctx, cancel := h.callCtx()
	defer cancel()
	_, err := h.d.Start(ctx, spec.ID)
	h.assertClass("Start of a running container", err, errConflict)
	h.signal(spec.ID, syscall.SIGKILL)
	h.wait(st.Supervisor)
	h.waitStopped(spec.ID)
	_, err = h.d.Start(ctx, spec.ID)
	h.assertClass("Start of a stopped container", err, errConflict)
	if cur := h.state(spec.ID); cur.Status != exec.StatusStopped || cur.Exit.Code != 137 {
		h.t.Errorf("after the refused Start: %+v, want still stopped with code 137", cur)
	}
}

// checkSupervisorExits: once the container exited and its status is
// recorded, its supervisor goes away; it must not linger per container.
func checkSupervisorExits(h *harness) {
	spec := h.spec("true")
	created := h.create(spec)
	h.start(spec.ID)
	h.wait(created.Supervisor)
	h.waitGone(created.SupervisorPid, "the supervisor of an exited container")
	if st := h.state(spec.ID); st.Status != exec.StatusStopped || st.Exit.Code != 0 {
		h.t.Errorf("State after the supervisor exited: %+v, want stopped with code 0", st)
	}
}

// assertGone checks that a deleted container is unknown to State and
// absent from Restore.
func assertGone(h *harness, id string) {
	h.t.Helper()
	ctx, cancel := h.callCtx()
	defer cancel()
	_, err := h.d.State(ctx, id)
	h.assertClass("State of a deleted container", err, errNotFound)
	if st, ok := listed(h.restore(), id); ok {
		h.t.Errorf("Restore still lists the deleted container: %+v", st)
	}
}

// checkSupervisorKilled: a supervisor killed with SIGKILL takes its
// container's init with it (no container runs unsupervised), and State
// reports the container stopped with an Exit.Error saying so.
func checkSupervisorKilled(h *harness) {
	spec := h.spec("sleep", "1000")
	st := h.run(spec)
	if err := syscall.Kill(st.SupervisorPid, syscall.SIGKILL); err != nil {
		h.t.Fatalf("killing the supervisor %d: %v", st.SupervisorPid, err)
	}
	h.waitGone(st.Pid, "the init of a container whose supervisor was killed")
	stopped := h.waitStopped(spec.ID)
	if stopped.Exit.Error == "" {
		h.t.Errorf("State after the supervisor was killed: %+v, want Exit.Error saying the supervisor died", stopped)
	}
	h.delete(spec.ID)
	assertGone(h, spec.ID)
}

package exectest

import (
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
)

func pauseChecks() []check {
	return []check{
		{name: "NoProgressWhilePaused", run: needPause(checkPause), serial: true},
		{name: "PausedRefusesDelete", run: needPause(checkPausedDelete)},
		{name: "PauseStoppedConflicts", run: needPause(checkPauseStopped)},
	}
}

func needPause(f func(h *harness)) func(h *harness) {
	return func(h *harness) {
		if !h.info.Capabilities.Pause {
			h.t.Skip("the driver does not report Capabilities.Pause")
		}
		f(h)
	}
}

func (h *harness) pause(id string) {
	h.t.Helper()
	ctx, cancel := h.callCtx()
	defer cancel()
	if err := h.d.Pause(ctx, id); err != nil {
		h.t.Fatalf("Pause(%s): %v", short(id), err)
	}
}

func (h *harness) resume(id string) {
	h.t.Helper()
	ctx, cancel := h.callCtx()
	defer cancel()
	if err := h.d.Resume(ctx, id); err != nil {
		h.t.Fatalf("Resume(%s): %v", short(id), err)
	}
}

// ticker is a container that prints a line every 10ms.
const ticker = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done"

// checkPause: a paused container makes no progress, and goes on after
// Resume; State says paused meanwhile.
func checkPause(h *harness) {
	spec := h.spec("sh", "-c", ticker)
	created := h.create(spec)
	s := h.attach(created.Supervisor, supervisor.AttachOptions{Stdout: true})
	h.start(spec.ID)
	s.waitFor(s.stdout, "\n5\n")

	h.pause(spec.ID)
	if st := h.state(spec.ID); st.Status != exec.StatusPaused {
		h.t.Errorf("State after Pause: %v, want paused", st.Status)
	}
	// Output already in the pipe may still arrive; then nothing.
	time.Sleep(100 * time.Millisecond)
	n := s.stdout.Len()
	time.Sleep(settle)
	if m := s.stdout.Len(); m != n {
		h.t.Errorf("the paused container printed %d bytes in %v: %q", m-n, settle, s.stdout.Bytes()[n:])
	}

	h.resume(spec.ID)
	if st := h.state(spec.ID); st.Status != exec.StatusRunning {
		h.t.Errorf("State after Resume: %v, want running", st.Status)
	}
	deadline := time.Now().Add(callTimeout)
	for s.stdout.Len() == n {
		if time.Now().After(deadline) {
			h.t.Fatalf("the resumed container printed nothing in %v", callTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkPausedDelete: a paused container cannot be deleted, and SIGKILL
// still ends it (docker kill of a paused container; on cgroup v1 the
// driver must thaw it for the signal to act).
func checkPausedDelete(h *harness) {
	spec := h.spec("sh", "-c", ticker)
	st := h.run(spec)
	h.pause(spec.ID)
	ctx, cancel := h.callCtx()
	defer cancel()
	h.assertClass("Delete of a paused container", h.d.Delete(ctx, spec.ID), errConflict)
	h.resume(spec.ID)
	h.signal(spec.ID, syscall.SIGKILL)
	if exit, _ := h.wait(st.Supervisor); exit.Code != 137 {
		h.t.Errorf("exit after resume and SIGKILL: %+v, want code 137", exit)
	}
}

// checkPauseStopped: only a running container can be paused.
func checkPauseStopped(h *harness) {
	spec := h.spec("true")
	h.output(spec)
	h.waitStopped(spec.ID)
	ctx, cancel := h.callCtx()
	defer cancel()
	h.assertClass("Pause of a stopped container", h.d.Pause(ctx, spec.ID), errConflict)
	h.assertClass("Resume of a stopped container", h.d.Resume(ctx, spec.ID), errConflict)
}

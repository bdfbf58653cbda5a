package exectest

import (
	"syscall"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// The error classes the contract names.
const (
	errNotFound         = errdefs.NotFoundClass
	errConflict         = errdefs.ConflictClass
	errInvalidParameter = errdefs.InvalidParameterClass
)

func errorChecks() []check {
	return []check{
		{name: "UnknownID", run: checkUnknownID},
		{name: "MissingProgram", run: checkBadProgram("nosuch")},
		{name: "MissingProgramPath", run: checkBadProgram("/nosuch/prog")},
		{name: "ProgramNotExecutable", run: checkBadProgram("/etc/passwd")},
		{name: "SignalStoppedConflicts", run: checkSignalStopped},
	}
}

// checkUnknownID: every method naming an unknown id is NotFound.
func checkUnknownID(h *harness) {
	id := newID()
	ctx, cancel := h.callCtx()
	defer cancel()
	_, err := h.d.State(ctx, id)
	h.assertClass("State", err, errNotFound)
	_, err = h.d.Start(ctx, id)
	h.assertClass("Start", err, errNotFound)
	h.assertClass("Signal", h.d.Signal(ctx, id, syscall.SIGKILL), errNotFound)
	h.assertClass("Delete", h.d.Delete(ctx, id), errNotFound)
	if h.info.Capabilities.Pause {
		h.assertClass("Pause", h.d.Pause(ctx, id), errNotFound)
		h.assertClass("Resume", h.d.Resume(ctx, id), errNotFound)
	}
	if h.info.Capabilities.Stats {
		_, err = h.d.Stats(ctx, id)
		h.assertClass("Stats", err, errNotFound)
	}
}

// checkBadProgram: a program that cannot be executed fails Create with
// InvalidParameter and leaves nothing behind, so the same id can be
// created again (the daemon retries a fixed docker run with the same
// container).
func checkBadProgram(prog string) func(h *harness) {
	return func(h *harness) {
		spec := h.spec(prog)
		h.cleanupContainer(spec.ID)
		ctx, cancel := h.callCtx()
		defer cancel()
		st, err := h.d.Create(ctx, spec)
		h.assertClass("Create of "+prog, err, errInvalidParameter)
		if err == nil {
			h.t.Fatalf("Create returned %+v", st)
		}
		_, err = h.d.State(ctx, spec.ID)
		h.assertClass("State after the failed Create", err, errNotFound)
		if st, ok := listed(h.restore(), spec.ID); ok {
			h.t.Errorf("Restore lists the container whose Create failed: %+v", st)
		}

		spec.Process.Args = []string{"sh", "-c", "exit 5"}
		stdout, stderr, exit := h.output(spec)
		if exit.Code != 5 {
			h.t.Errorf("the same id created again exited with %+v (stdout %q, stderr %q), want code 5", exit, stdout, stderr)
		}
	}
}

// checkSignalStopped: signalling a container that has exited is a
// Conflict (the daemon's docker kill answers it as such).
func checkSignalStopped(h *harness) {
	spec := h.spec("true")
	h.output(spec)
	h.waitStopped(spec.ID)
	ctx, cancel := h.callCtx()
	defer cancel()
	h.assertClass("Signal of a stopped container", h.d.Signal(ctx, spec.ID, syscall.SIGKILL), errConflict)
	if st := h.state(spec.ID); st.Status != exec.StatusStopped || st.Exit.Code != 0 {
		h.t.Errorf("after the refused Signal: %+v, want stopped with code 0", st)
	}
}

// supervisorClient dials st's supervisor without failing the check: it
// may have exited already.
func supervisorClient(h *harness, st exec.State) (*supervisor.Client, error) {
	ctx, cancel := h.callCtx()
	defer cancel()
	if st.Supervisor == "" {
		return nil, errdefs.NotFound(errSupervisorGone)
	}
	return supervisor.Dial(ctx, st.Supervisor)
}

type constError string

func (e constError) Error() string { return string(e) }

const errSupervisorGone = constError("the supervisor has exited")

package exectest

import (
	"syscall"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
)

func restoreChecks() []check {
	return []check{
		{name: "ListsEveryState", run: checkRestoreLists},
	}
}

func relaunchChecks() []check {
	return []check{
		{name: "ContainersSurvive", run: needRelaunch(checkRelaunchSurvive)},
		{name: "AttachAfterRelaunch", run: needRelaunch(checkRelaunchAttach)},
		{name: "ExitWhileDown", run: needRelaunch(checkRelaunchExitWhileDown)},
	}
}

func needRelaunch(f func(h *harness)) func(h *harness) {
	return func(h *harness) {
		if h.opts.Relaunch == nil {
			h.t.Skip("RunOptions.Relaunch is not set: the driver under test cannot be killed")
		}
		f(h)
	}
}

// relaunch kills the driver process and goes on with the relaunched one.
func (h *harness) relaunch() {
	h.t.Helper()
	d := h.opts.Relaunch(h.t, h.d)
	if d == nil {
		h.t.Fatal("Relaunch returned a nil driver")
	}
	h.d = d
}

// assertListed checks that Restore reported id with status, and returns
// what it reported.
func assertListed(h *harness, sts []exec.State, id string, status exec.Status) exec.State {
	h.t.Helper()
	st, ok := listed(sts, id)
	if !ok {
		h.t.Errorf("Restore does not list %v container %s", status, short(id))
		return st
	}
	if st.Status != status {
		h.t.Errorf("Restore lists container %s as %v, want %v", short(id), st.Status, status)
	}
	return st
}

// checkRestoreLists: Restore reports created, running and stopped
// containers, each with the state State gives.
func checkRestoreLists(h *harness) {
	created := h.spec("sleep", "1000")
	h.create(created)
	running := h.spec("sleep", "1000")
	runSt := h.run(running)
	stopped := h.spec("sh", "-c", "exit 9")
	h.output(stopped)
	h.waitStopped(stopped.ID)

	sts := h.restore()
	assertListed(h, sts, created.ID, exec.StatusCreated)
	if st := assertListed(h, sts, running.ID, exec.StatusRunning); st.Pid != runSt.Pid || st.Supervisor == "" {
		h.t.Errorf("Restore lists the running container with Pid %d and supervisor %q, want Pid %d and a socket", st.Pid, st.Supervisor, runSt.Pid)
	}
	if st := assertListed(h, sts, stopped.ID, exec.StatusStopped); st.Exit.Code != 9 {
		h.t.Errorf("Restore lists the stopped container with exit %+v, want code 9", st.Exit)
	}
	seen := map[string]bool{}
	for _, st := range sts {
		if seen[st.ID] {
			h.t.Errorf("Restore lists %s twice", short(st.ID))
		}
		seen[st.ID] = true
	}
	if len(sts) != 3 {
		h.t.Errorf("Restore lists %d containers, want the 3 of this driver", len(sts))
	}
}

// checkRelaunchSurvive: killing the driver process does not touch its
// containers; the relaunched driver finds them (Restore, State) and
// controls them (Signal), and their supervisors answered throughout.
func checkRelaunchSurvive(h *harness) {
	running := h.spec("sleep", "1000")
	runSt := h.run(running)
	stopped := h.spec("sh", "-c", "exit 4")
	h.output(stopped)
	h.waitStopped(stopped.ID)
	created := h.spec("sh", "-c", "exit 2")
	createdSt := h.create(created)
	// The daemon waits on the supervisor from before the relaunch on;
	// that wait must not notice the driver dying.
	waited := h.waitAsync(runSt.Supervisor)

	h.relaunch()

	if !alive(runSt.Pid) || !alive(runSt.SupervisorPid) {
		h.t.Fatalf("after the driver was killed: container init alive %v, supervisor alive %v; want both", alive(runSt.Pid), alive(runSt.SupervisorPid))
	}
	ctx, cancel := h.callCtx()
	defer cancel()
	if info, err := h.dial(runSt.Supervisor).Info(ctx); err != nil || info.Status != exec.StatusRunning || info.Pid != runSt.Pid {
		h.t.Errorf("the supervisor after the relaunch: Info %+v, %v; want running with Pid %d", info, err, runSt.Pid)
	}

	sts := h.restore()
	if st := assertListed(h, sts, running.ID, exec.StatusRunning); st.Pid != runSt.Pid || st.Supervisor != runSt.Supervisor {
		h.t.Errorf("Restore after the relaunch: %+v, want Pid %d and supervisor %s", st, runSt.Pid, runSt.Supervisor)
	}
	if st := assertListed(h, sts, stopped.ID, exec.StatusStopped); st.Exit.Code != 4 {
		h.t.Errorf("Restore after the relaunch lists the stopped container with %+v, want code 4", st.Exit)
	}
	assertListed(h, sts, created.ID, exec.StatusCreated)
	if st := h.state(running.ID); st.Status != exec.StatusRunning || st.Pid != runSt.Pid || !st.StartedAt.Equal(runSt.StartedAt) {
		h.t.Errorf("State after the relaunch: %+v, want running with Pid %d, StartedAt %v", st, runSt.Pid, runSt.StartedAt)
	}

	// The relaunched driver controls what the dead one created.
	h.signal(running.ID, syscall.SIGKILL)
	if exit := h.result(waited); exit.Code != 137 {
		h.t.Errorf("Wait begun before the relaunch returned %+v, want code 137", exit)
	}
	if st := h.waitStopped(running.ID); st.Exit.Code != 137 {
		h.t.Errorf("State after SIGKILL by the relaunched driver: %+v, want code 137", st.Exit)
	}
	h.start(created.ID)
	if exit, _ := h.wait(createdSt.Supervisor); exit.Code != 2 {
		h.t.Errorf("a container created before the relaunch and started after it exited with %+v, want code 2", exit)
	}
	h.delete(stopped.ID)
	assertGone(h, stopped.ID)
}

// checkRelaunchAttach: a client attached before the driver died keeps
// receiving output, and a new client can attach and send stdin after the
// relaunch.
func checkRelaunchAttach(h *harness) {
	spec := h.spec("sh", "-c", "echo before; read x; echo got $x; exit 6")
	spec.Process.OpenStdin = true
	created := h.create(spec)
	early := h.attach(created.Supervisor, supervisor.AttachOptions{Stdout: true, Stderr: true})
	h.start(spec.ID)
	early.waitFor(early.stdout, "before\n")

	h.relaunch()

	late := h.attach(h.state(spec.ID).Supervisor, supervisor.AttachOptions{Stdin: true, Stdout: true})
	late.write([]byte("after\n"))
	for _, s := range []*session{early, late} {
		stdout, _, exit := s.finish()
		if exit.Code != 6 {
			h.t.Errorf("exit reported to an attachment: %+v, want code 6", exit)
		}
		if want := "got after\n"; !bytesHasSuffix(stdout, want) {
			h.t.Errorf("attachment's stdout %q does not end with %q", stdout, want)
		}
	}
}

// checkRelaunchExitWhileDown: a container that exits while no driver
// runs has its status recorded by its supervisor, and the relaunched
// driver reports it.
func checkRelaunchExitWhileDown(h *harness) {
	spec := h.spec("sh", "-c", "read x; exit 11")
	spec.Process.OpenStdin = true
	spec.Process.StdinOnce = true
	created := h.create(spec)
	s := h.attach(created.Supervisor, supervisor.AttachOptions{Stdin: true, Stdout: true})
	h.start(spec.ID)
	// The container exits during the relaunch: stdin is closed just as
	// the driver is killed.
	s.closeStdin()
	h.relaunch()
	if _, _, exit := s.finish(); exit.Code != 11 {
		h.t.Errorf("attachment's exit: %+v, want code 11", exit)
	}
	if st := h.waitStopped(spec.ID); st.Exit.Code != 11 || st.Exit.Error != "" {
		h.t.Errorf("State after an exit during the relaunch: %+v, want code 11", st.Exit)
	}
	assertListed(h, h.restore(), spec.ID, exec.StatusStopped)
}

func bytesHasSuffix(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && string(b[len(b)-len(suffix):]) == suffix
}

package exectest

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// The Exec group checks exec.Execer (contract v1.1) for a driver that
// declares Capabilities.Exec; a driver that does not is skipped.
func execChecks() []check {
	return []check{
		{name: "OutputAndExitCode", run: needExec(checkExecOutput)},
		{name: "InTheContainer", run: needExec(checkExecInContainer)},
		{name: "OutputHeldUntilAttach", run: needExec(checkExecHeld)},
		{name: "DetachedDiscards", run: needExec(checkExecDetached)},
		{name: "StdinOnce", run: needExec(checkExecStdin)},
		{name: "UserCwdEnv", run: needExec(checkExecUserCwdEnv)},
		{name: "Privileged", run: needExec(checkExecPrivileged)},
		{name: "Tty", run: needExec(needTty(checkExecTty))},
		{name: "Errors", run: needExec(checkExecErrors)},
		{name: "PausedConflicts", run: needExec(needPause(checkExecPaused))},
		{name: "EndsWithContainer", run: needExec(checkExecEndsWithContainer)},
		{name: "Concurrent", run: needExec(checkExecConcurrent)},
		{name: "SurvivesRelaunch", run: needExec(needRelaunch(checkExecRelaunch))},
		{name: "NotInTheLog", run: needExec(checkExecNotLogged)},
	}
}

func needExec(f func(h *harness)) func(h *harness) {
	return func(h *harness) {
		if !h.info.Capabilities.Exec {
			h.t.Skip("the driver does not report Capabilities.Exec")
		}
		if _, ok := h.d.(exec.Execer); !ok {
			h.t.Fatalf("the driver reports Capabilities.Exec but %T does not implement exec.Execer", h.d)
		}
		f(h)
	}
}

// execSpec is an attached exec of args with the container's PATH, as the
// daemon makes one for docker exec.
func execSpec(args ...string) exec.ExecSpec {
	return exec.ExecSpec{
		ID:       newID(),
		Process:  exec.Process{Args: args, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		Attached: true,
	}
}

// execErr calls Exec and returns its error and state.
func (h *harness) execErr(id string, spec exec.ExecSpec) (exec.ExecState, error) {
	h.t.Helper()
	ctx, cancel := h.callCtx()
	defer cancel()
	return h.d.(exec.Execer).Exec(ctx, id, spec)
}

// exec starts spec in container id and checks what Exec returned.
func (h *harness) exec(id string, spec exec.ExecSpec) exec.ExecState {
	h.t.Helper()
	st, err := h.execErr(id, spec)
	if err != nil {
		h.t.Fatalf("Exec(%s, %q): %v", short(id), spec.Process.Args, err)
	}
	if st.ID != spec.ID || st.Pid <= 0 || st.Supervisor == "" {
		h.t.Fatalf("Exec returned %+v; want ID %s, a pid and the supervisor socket", st, short(spec.ID))
	}
	return st
}

// attachExec attaches to an exec process for the rest of the check.
func (h *harness) attachExec(st exec.ExecState, opts supervisor.AttachOptions) *session {
	h.t.Helper()
	a, err := h.dial(st.Supervisor).AttachExec(h.ctx, st.ID, opts)
	if err != nil {
		h.t.Fatalf("AttachExec(%s, %+v): %v", short(st.ID), opts, err)
	}
	return h.collect(a)
}

// execOutput runs spec in container id, attached as the daemon does
// (right after Exec), and returns its output and exit status.
func (h *harness) execOutput(id string, spec exec.ExecSpec) (stdout, stderr string, exit exec.ExitStatus) {
	h.t.Helper()
	st := h.exec(id, spec)
	o, e, x := h.attachExec(st, supervisor.AttachOptions{Stdout: true, Stderr: true}).finish()
	return string(o), string(e), x
}

// sleeper runs a container that sleeps until killed.
func (h *harness) sleeper() (exec.ContainerSpec, exec.State) {
	h.t.Helper()
	spec := h.spec("sleep", "1000")
	return spec, h.run(spec)
}

// checkExecOutput: stdout and stderr arrive apart, the exit code is the
// program's, and the supervisor keeps the status for WaitExec and
// ExecInfo after the end.
func checkExecOutput(h *harness) {
	spec, st := h.sleeper()
	xs := execSpec("sh", "-c", "echo out; echo err >&2; exit 3")
	x := h.exec(spec.ID, xs)
	o, e, exit := h.attachExec(x, supervisor.AttachOptions{Stdout: true, Stderr: true}).finish()
	if string(o) != "out\n" || string(e) != "err\n" || exit.Code != 3 {
		h.t.Errorf("exec printed %q and %q and exited %+v; want \"out\\n\", \"err\\n\" and code 3", o, e, exit)
	}
	c := h.dial(st.Supervisor)
	ctx, cancel := h.callCtx()
	defer cancel()
	if w, _, err := c.WaitExec(ctx, xs.ID); err != nil || w.Code != 3 {
		h.t.Errorf("WaitExec after the end: %+v, %v; want code 3", w, err)
	}
	info, err := c.ExecInfo(ctx, xs.ID)
	if err != nil || info.Running || info.Exit == nil || info.Exit.Code != 3 {
		h.t.Errorf("ExecInfo after the end: %+v, %v; want not running, exit code 3", info, err)
	}
	// The container itself goes on.
	if got := h.state(spec.ID); got.Status != exec.StatusRunning {
		h.t.Errorf("the container is %v after an exec ended, want running", got.Status)
	}
	if _, err := c.ExecInfo(ctx, newID()); !errdefs.IsNotFound(err) {
		h.t.Errorf("ExecInfo of an unknown exec id: %v, want a NotFound error", err)
	}
}

// checkExecInContainer: the exec process shares every namespace and
// cgroup of the container's init, and sees the container's files.
func checkExecInContainer(h *harness) {
	spec, st := h.sleeper()
	if err := os.WriteFile(spec.Rootfs+"/marker", []byte("inside\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	x := h.exec(spec.ID, execSpec("sh", "-c", "cat /marker; hostname; exec sleep 1000"))
	s := h.attachExec(x, supervisor.AttachOptions{Stdout: true, Stderr: true})
	s.waitFor(s.stdout, "inside\n"+spec.Hostname+"\n")
	for _, kind := range nsKinds {
		want, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", st.Pid, kind))
		got, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", x.Pid, kind))
		if err1 != nil || err2 != nil || got != want {
			h.t.Errorf("%s namespace: exec %q (%v), container %q (%v); want the container's", kind, got, err2, want, err1)
		}
	}
	want, err1 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
	got, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", x.Pid))
	if err1 != nil || err2 != nil || string(got) != string(want) {
		h.t.Errorf("cgroups: exec\n%s(%v)\ncontainer\n%s(%v); want the container's", got, err2, want, err1)
	}
}

// checkExecHeld: an attached exec's output waits for the first client,
// both from a process that exited before it (a quick echo) and from one
// that wrote more than a pipe holds meanwhile.
func checkExecHeld(h *harness) {
	spec, _ := h.sleeper()
	quick := h.exec(spec.ID, execSpec("echo", "quick"))
	const size = 300000
	big := h.exec(spec.ID, execSpec("sh", "-c", "head -c "+itoa(size)+" /dev/zero | tr '\\0' x; echo end"))
	time.Sleep(settle)
	o, _, exit := h.attachExec(quick, supervisor.AttachOptions{Stdout: true, Stderr: true}).finish()
	if string(o) != "quick\n" || exit.Code != 0 {
		h.t.Errorf("exec that ended before its client attached: %q, exit %+v; want \"quick\\n\", 0", o, exit)
	}
	o, _, exit = h.attachExec(big, supervisor.AttachOptions{Stdout: true, Stderr: true}).finish()
	if len(o) != size+4 || strings.Count(string(o), "x") != size || !strings.HasSuffix(string(o), "end\n") || exit.Code != 0 {
		h.t.Errorf("exec attached after writing: %d bytes ending %q, exit %+v; want %d x's and \"end\\n\", exit 0", len(o), o[max(0, len(o)-8):], exit, size)
	}
}

// checkExecDetached: a detached exec's output is read and dropped, so a
// process writing much ends without any client.
func checkExecDetached(h *harness) {
	spec, st := h.sleeper()
	xs := execSpec("sh", "-c", "head -c 1000000 /dev/zero; exit 4")
	xs.Attached = false
	h.exec(spec.ID, xs)
	ctx, cancel := h.callCtx()
	defer cancel()
	w, _, err := h.dial(st.Supervisor).WaitExec(ctx, xs.ID)
	if err != nil || w.Code != 4 {
		h.t.Errorf("WaitExec of a detached exec writing 1 MB: %+v, %v; want code 4", w, err)
	}
}

// checkExecStdin: with OpenStdin and StdinOnce (docker exec -i), the
// client's stdin reaches the process, and its end closes it.
func checkExecStdin(h *harness) {
	spec, _ := h.sleeper()
	xs := execSpec("cat")
	xs.Process.OpenStdin, xs.Process.StdinOnce = true, true
	x := h.exec(spec.ID, xs)
	s := h.attachExec(x, supervisor.AttachOptions{Stdin: true, Stdout: true, Stderr: true})
	s.write([]byte("ping\n"))
	s.waitFor(s.stdout, "ping\n")
	s.closeStdin()
	o, _, exit := s.finish()
	if string(o) != "ping\n" || exit.Code != 0 {
		h.t.Errorf("cat with stdin: %q, exit %+v; want \"ping\\n\", 0", o, exit)
	}
}

// checkExecUserCwdEnv: User, Cwd and Env are the exec's own, not the
// container's, and an empty User is root.
func checkExecUserCwdEnv(h *harness) {
	spec := h.spec("sleep", "1000")
	spec.Process.User = "nobody"
	spec.Process.Env = append(spec.Process.Env, "FOO=container")
	h.run(spec)
	xs := execSpec("sh", "-c", "id -u; id -g; pwd; echo $FOO")
	xs.Process.User = "1234:5678"
	xs.Process.Cwd = "/tmp"
	xs.Process.Env = append(xs.Process.Env, "FOO=exec")
	if o, e, exit := h.execOutput(spec.ID, xs); o != "1234\n5678\n/tmp\nexec\n" || exit.Code != 0 {
		h.t.Errorf("exec as 1234:5678 in /tmp with FOO=exec printed %q (stderr %q), exit %+v", o, e, exit)
	}
	if o, e, exit := h.execOutput(spec.ID, execSpec("id", "-u")); o != "0\n" || exit.Code != 0 {
		h.t.Errorf("exec without a user printed %q (stderr %q), exit %+v; want uid 0", o, e, exit)
	}
}

// checkExecPrivileged: an exec has the container's capabilities, a
// privileged one every capability (CAP_SYS_ADMIN, 21, is not a default).
func checkExecPrivileged(h *harness) {
	spec, _ := h.sleeper()
	capEff := func(privileged bool) uint64 {
		xs := execSpec("sh", "-c", "grep CapEff /proc/self/status")
		xs.Privileged = privileged
		o, e, _ := h.execOutput(spec.ID, xs)
		hex := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(o), "CapEff:"))
		eff, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			h.t.Fatalf("CapEff line %q (stderr %q): %v", o, e, err)
		}
		return eff
	}
	const sysAdmin = 1 << 21
	if eff := capEff(false); eff&sysAdmin != 0 {
		h.t.Errorf("an exec in a default container has CAP_SYS_ADMIN (CapEff %x)", eff)
	}
	if eff := capEff(true); eff&sysAdmin == 0 {
		h.t.Errorf("a privileged exec lacks CAP_SYS_ADMIN (CapEff %x)", eff)
	}
}

// checkExecTty: with a terminal (docker exec -t) the process's stdio is
// a terminal of the container's own, sized as asked and resizable.
func checkExecTty(h *harness) {
	spec, st := h.sleeper()
	xs := execSpec("sh", "-c", "tty; stty size; read x; stty size")
	xs.Process.Terminal, xs.Process.OpenStdin, xs.Process.StdinOnce = true, true, true
	xs.Process.ConsoleWidth, xs.Process.ConsoleHeight = 100, 30
	x := h.exec(spec.ID, xs)
	s := h.attachExec(x, supervisor.AttachOptions{Stdin: true, Stdout: true, Stderr: true})
	s.waitFor(s.stdout, "30 100\r\n")
	if out := string(s.stdout.Bytes()); !strings.HasPrefix(out, "/dev/pts/") {
		h.t.Errorf("tty in a terminal exec printed %q, want /dev/pts/<n>", out)
	}
	ctx, cancel := h.callCtx()
	defer cancel()
	if err := h.dial(st.Supervisor).ResizeExec(ctx, xs.ID, 132, 43); err != nil {
		h.t.Fatalf("ResizeExec: %v", err)
	}
	s.write([]byte("\n"))
	s.waitFor(s.stdout, "43 132\r\n")
	if _, _, exit := s.finish(); exit.Code != 0 {
		h.t.Errorf("exit %+v, want code 0", exit)
	}
}

// checkExecErrors: the classes exec.Execer documents, and nothing left
// behind by a refused exec.
func checkExecErrors(h *harness) {
	spec, st := h.sleeper()
	missing := execSpec("nosuch-program")
	_, err := h.execErr(spec.ID, missing)
	h.assertClass("Exec of a missing program", err, errdefs.InvalidParameterClass)
	if err != nil && !strings.Contains(err.Error(), "nosuch-program") {
		h.t.Errorf("Exec of a missing program: %q does not name it", err)
	}
	ctx, cancel := h.callCtx()
	defer cancel()
	if _, err := h.dial(st.Supervisor).ExecInfo(ctx, missing.ID); !errdefs.IsNotFound(err) {
		h.t.Errorf("ExecInfo of a refused exec: %v, want NotFound (the id is not taken)", err)
	}
	bad := execSpec("true")
	bad.Process.User = "no-such-user"
	_, err = h.execErr(spec.ID, bad)
	h.assertClass("Exec as an unknown user", err, errdefs.InvalidParameterClass)

	dup := execSpec("sleep", "1000")
	h.exec(spec.ID, dup)
	_, err = h.execErr(spec.ID, dup)
	h.assertClass("Exec with an exec id the container has", err, errdefs.ConflictClass)

	_, err = h.execErr(newID(), execSpec("true"))
	h.assertClass("Exec in an unknown container", err, errdefs.NotFoundClass)

	created := h.spec("true")
	h.create(created)
	_, err = h.execErr(created.ID, execSpec("true"))
	h.assertClass("Exec in a created container", err, errdefs.ConflictClass)

	h.signal(spec.ID, syscall.SIGKILL)
	h.wait(st.Supervisor)
	h.waitStopped(spec.ID)
	_, err = h.execErr(spec.ID, execSpec("true"))
	h.assertClass("Exec in a stopped container", err, errdefs.ConflictClass)
}

// checkExecPaused: a paused container refuses exec (a process joining a
// frozen cgroup would hang), and takes it again once resumed.
func checkExecPaused(h *harness) {
	spec, _ := h.sleeper()
	h.pause(spec.ID)
	_, err := h.execErr(spec.ID, execSpec("true"))
	h.assertClass("Exec in a paused container", err, errdefs.ConflictClass)
	h.resume(spec.ID)
	if o, _, exit := h.execOutput(spec.ID, execSpec("echo", "back")); o != "back\n" || exit.Code != 0 {
		h.t.Errorf("exec after Resume: %q, exit %+v", o, exit)
	}
}

// checkExecEndsWithContainer: when the container ends, its exec
// processes end too, and their clients hear of it.
func checkExecEndsWithContainer(h *harness) {
	spec, st := h.sleeper()
	x := h.exec(spec.ID, execSpec("sh", "-c", "echo started; exec sleep 1000"))
	s := h.attachExec(x, supervisor.AttachOptions{Stdout: true, Stderr: true})
	s.waitFor(s.stdout, "started\n")
	h.signal(spec.ID, syscall.SIGKILL)
	_, _, exit := s.finish()
	if exit.Code != 128+int(syscall.SIGKILL) {
		h.t.Errorf("an exec whose container was killed: exit %+v, want code %d", exit, 128+int(syscall.SIGKILL))
	}
	h.waitGone(x.Pid, "the exec process")
	if w, _ := h.wait(st.Supervisor); w.Code != 128+int(syscall.SIGKILL) {
		h.t.Errorf("the container: exit %+v, want code %d", w, 128+int(syscall.SIGKILL))
	}
}

// checkExecConcurrent: execs started together each get their own output
// and status.
func checkExecConcurrent(h *harness) {
	spec, _ := h.sleeper()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		st, err := h.execErr(spec.ID, execSpec("sh", "-c", "echo "+itoa(i)+"; exit "+itoa(i)))
		if err != nil {
			h.t.Fatalf("Exec %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := supervisor.Dial(h.ctx, st.Supervisor)
			if err != nil {
				errs <- err
				return
			}
			a, err := c.AttachExec(h.ctx, st.ID, supervisor.AttachOptions{Stdout: true})
			if err != nil {
				errs <- err
				return
			}
			var out strings.Builder
			if _, err := io.Copy(&out, a.Stdout); err != nil {
				errs <- err
				return
			}
			exit, err := a.Exit()
			if err != nil || exit.Code != i || out.String() != itoa(i)+"\n" {
				errs <- fmt.Errorf("exec %d: %q, exit %+v, %v", i, out.String(), exit, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		h.t.Error(err)
	}
}

// checkExecRelaunch: an exec process's stdio and status are the
// supervisor's, so a client attached across a driver relaunch keeps
// talking to it.
func checkExecRelaunch(h *harness) {
	spec, _ := h.sleeper()
	xs := execSpec("sh", "-c", "read x; echo got $x")
	xs.Process.OpenStdin, xs.Process.StdinOnce = true, true
	x := h.exec(spec.ID, xs)
	s := h.attachExec(x, supervisor.AttachOptions{Stdin: true, Stdout: true})
	h.relaunch()
	s.write([]byte("a\n"))
	o, _, exit := s.finish()
	if string(o) != "got a\n" || exit.Code != 0 {
		h.t.Errorf("exec across a relaunch: %q, exit %+v", o, exit)
	}
	if o, _, exit := h.execOutput(spec.ID, execSpec("echo", "after")); o != "after\n" || exit.Code != 0 {
		h.t.Errorf("exec after a relaunch: %q, exit %+v", o, exit)
	}
}

// checkExecNotLogged: an exec's output goes to its client only; the
// container's json-file log holds the container's own output and nothing
// else (no exec output, no line from the driver's attach machinery).
func checkExecNotLogged(h *harness) {
	spec := h.spec("sh", "-c", "echo container-out; read x")
	spec.Process.OpenStdin = true
	created := h.create(spec)
	s := h.attach(created.Supervisor, supervisor.AttachOptions{Stdin: true, Stdout: true, Stderr: true})
	h.start(spec.ID)
	s.waitFor(s.stdout, "container-out\n")
	if o, _, exit := h.execOutput(spec.ID, execSpec("sh", "-c", "echo exec-out; echo exec-err >&2")); o != "exec-out\n" || exit.Code != 0 {
		h.t.Errorf("exec: %q, exit %+v", o, exit)
	}
	s.write([]byte("\n"))
	s.finish()
	h.wait(created.Supervisor)
	got := byStream(h.logRecords(spec.LogPath))
	if got["stdout"] != "container-out\n" || got["stderr"] != "" {
		h.t.Errorf("the container's log after an exec: stdout %q, stderr %q; want only \"container-out\\n\"", got["stdout"], got["stderr"])
	}
}

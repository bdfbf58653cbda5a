package lxc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// The exec tests run exec processes through the driver and the real
// supervisor (which must be the program's parent: a child subreaper),
// checking what is particular to lxc-attach and the helper (exec.go); the
// conformance suite's Exec group checks the contract.

// runningContainer creates and starts spec's container.
func runningContainer(t *testing.T, d *Driver, spec exec.ContainerSpec) exec.State {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st, err := d.Start(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func execID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// execArgs is an attached exec of args with the container's PATH.
func execArgs(args ...string) exec.ExecSpec {
	return exec.ExecSpec{ID: execID(), Process: exec.Process{Args: args, Env: []string{"PATH=" + defaultPath}}, Attached: true}
}

// execOutput runs spec in container id and returns its stdout, stderr and
// status.
func execOutput(t *testing.T, d *Driver, id string, spec exec.ExecSpec) (string, string, exec.ExitStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x, err := d.Exec(ctx, id, spec)
	if err != nil {
		t.Fatalf("Exec %q: %v", spec.Process.Args, err)
	}
	c, err := supervisor.Dial(ctx, x.Supervisor)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.AttachExec(ctx, spec.ID, supervisor.AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	errc := make(chan string, 1)
	go func() { b, _ := io.ReadAll(a.Stderr); errc <- string(b) }()
	out, _ := io.ReadAll(a.Stdout)
	stderr := <-errc
	exit, err := a.Exit()
	if err != nil {
		t.Fatalf("exit of exec %q: %v", spec.Process.Args, err)
	}
	return string(out), stderr, exit
}

// detachedSleep starts a detached exec of sleep in container id.
func detachedSleep(t *testing.T, d *Driver, id string) (exec.ExecSpec, exec.ExecState) {
	t.Helper()
	xs := execArgs("sleep", "1000")
	xs.Attached = false
	x, err := d.Exec(context.Background(), id, xs)
	if err != nil {
		t.Fatal(err)
	}
	return xs, x
}

func waitExec(t *testing.T, st exec.State, id string) exec.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := supervisor.Dial(ctx, st.Supervisor)
	if err != nil {
		t.Fatal(err)
	}
	exit, _, err := c.WaitExec(ctx, id)
	if err != nil {
		t.Fatalf("WaitExec: %v", err)
	}
	return exit
}

// procStatus returns a field of /proc/<pid>/status.
func procStatus(pid int, field string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// attachProcesses lists the lxc-attach processes of container id.
func attachProcesses(id string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], lxcAttach) && slices.Contains(args, id) && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestExecPidIsTheProgram: the pid Exec reports is the program itself, in
// the container's pid namespace, a child of the supervisor (which reaps
// it), and lxc-attach is gone.
func TestExecPidIsTheProgram(t *testing.T) {
	d := newTestDriver(t)
	spec := testSpec(t, d, "sleep", "1000")
	st := runningContainer(t, d, spec)
	x, err := d.Exec(context.Background(), spec.ID, execArgs("sleep", "999"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile("/proc/" + strconv.Itoa(x.Pid) + "/cmdline"); string(b) != "sleep\x00999\x00" {
		t.Errorf("exec pid %d runs %q, want sleep 999", x.Pid, b)
	}
	if ppid := procStatus(x.Pid, "PPid"); ppid != strconv.Itoa(st.SupervisorPid) {
		t.Errorf("exec pid %d has parent %s, want the supervisor %d", x.Pid, ppid, st.SupervisorPid)
	}
	want, _ := os.Readlink("/proc/" + strconv.Itoa(st.Pid) + "/ns/pid")
	if got, _ := os.Readlink("/proc/" + strconv.Itoa(x.Pid) + "/ns/pid"); got != want {
		t.Errorf("exec in pid namespace %s, want the container's %s", got, want)
	}
	if left := attachProcesses(spec.ID); len(left) > 0 {
		t.Errorf("lxc-attach still running: %v", left)
	}
}

// TestExecStatus: the status is the program's as the supervisor reaps
// it, 128+N for a signal (lxc-attach would say 0).
func TestExecStatus(t *testing.T) {
	d := newTestDriver(t)
	spec := testSpec(t, d, "sleep", "1000")
	st := runningContainer(t, d, spec)
	if _, _, exit := execOutput(t, d, spec.ID, execArgs("sh", "-c", "exit 7")); exit.Code != 7 {
		t.Errorf("exit 7: %+v", exit)
	}
	if _, _, exit := execOutput(t, d, spec.ID, execArgs("sh", "-c", "kill -KILL $$")); exit.Code != 137 {
		t.Errorf("killed by its own SIGKILL: %+v, want 137", exit)
	}
	xs, x := detachedSleep(t, d, spec.ID)
	syscall.Kill(x.Pid, syscall.SIGTERM)
	if exit := waitExec(t, st, xs.ID); exit.Code != 128+int(syscall.SIGTERM) {
		t.Errorf("killed by SIGTERM from the host: %+v, want %d", exit, 128+int(syscall.SIGTERM))
	}
}

// TestExecEndsWithContainer: an exec process dies with its container
// (its pid namespace) and its status is SIGKILL's.
func TestExecEndsWithContainer(t *testing.T) {
	d := newTestDriver(t)
	spec := testSpec(t, d, "sleep", "1000")
	st := runningContainer(t, d, spec)
	xs, x := detachedSleep(t, d, spec.ID)
	done := make(chan exec.ExitStatus, 1)
	go func() { done <- waitExec(t, st, xs.ID) }()
	if err := d.Signal(context.Background(), spec.ID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case exit := <-done:
		if exit.Code != 137 {
			t.Errorf("exec of a killed container: %+v, want 137", exit)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the exec did not end with its container")
	}
	if alive(x.Pid) {
		t.Errorf("exec process %d outlived its container", x.Pid)
	}
	waitStopped(t, d, spec.ID)
}

// TestNonRootContainerEndsWithMonitor: a container whose init is not
// root (LXC's parent-death signal is cleared by its setuid) ends as soon
// as its monitor is killed, with its exec processes, not when Destroy
// cleans up after the supervisor's 2 s wait for its output.
func TestNonRootContainerEndsWithMonitor(t *testing.T) {
	d := newTestDriver(t)
	spec := testSpec(t, d, "sleep", "1000")
	spec.Process.User = "nobody"
	st := runningContainer(t, d, spec)
	xs, x := detachedSleep(t, d, spec.ID)
	start := time.Now()
	if err := d.Signal(context.Background(), spec.ID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for (alive(st.Pid) || alive(x.Pid)) && time.Since(start) < 5*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("the init and the exec of a killed container ended after %v, want well under the supervisor's 2 s output grace", took)
	}
	if exit := waitExec(t, st, xs.ID); exit.Code != 137 {
		t.Errorf("exec of a killed container: %+v, want 137", exit)
	}
}

// TestExecProcessSetting: exactly the spec's environment (not LXC's
// container=lxc) with HOME and PATH added when missing, the user's
// supplementary groups (which the init does not get), the working
// directory, and the container's rlimits (lxc.prlimit, which lxc-attach
// does not apply).
func TestExecProcessSetting(t *testing.T) {
	d := newTestDriver(t)
	spec := testSpec(t, d, "sleep", "1000")
	spec.Process.User = "nobody"
	spec.Resources.Rlimits = []exec.Rlimit{{Type: "nofile", Soft: 1000, Hard: 2000}}
	f, err := os.OpenFile(filepath.Join(spec.Rootfs, "etc/group"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("audio:x:29:daemon\nstaff:x:50:nobody,daemon\n")
	f.Close()
	runningContainer(t, d, spec)

	xs := exec.ExecSpec{ID: execID(), Process: exec.Process{Args: []string{"env"}, Env: []string{"A=1"}}, Attached: true}
	out, errOut, exit := execOutput(t, d, spec.ID, xs)
	if got := strings.Fields(out); exit.Code != 0 || !slices.Equal(got, []string{"A=1", "PATH=" + defaultPath, "HOME=/root"}) {
		t.Errorf("env: %q (stderr %q), exit %+v; want A=1, the default PATH and HOME=/root", out, errOut, exit)
	}
	xs = execArgs("sh", "-c", "id -u; id -G; pwd; ulimit -n; ulimit -Hn")
	xs.Process.User, xs.Process.Cwd = "daemon", "/etc"
	out, errOut, exit = execOutput(t, d, spec.ID, xs)
	if want := "1\n1 29 50\n/etc\n1000\n2000\n"; out != want || exit.Code != 0 {
		t.Errorf("as daemon in /etc: %q (stderr %q), exit %+v; want %q", out, errOut, exit, want)
	}
}

// TestExecRefusalsLeaveNothing: what cannot run is an InvalidParameter
// error with Docker's message, from the checks on the host or from the
// helper (a file the kernel cannot execute), and leaves no process and no
// exec behind.
func TestExecRefusalsLeaveNothing(t *testing.T) {
	d := newTestDriver(t)
	spec := testSpec(t, d, "sleep", "1000")
	if err := os.WriteFile(filepath.Join(spec.Rootfs, "bad"), []byte("\x00\x01 not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := runningContainer(t, d, spec)
	c, err := supervisor.Dial(context.Background(), st.Supervisor)
	if err != nil {
		t.Fatal(err)
	}
	noCwd := execArgs("true")
	noCwd.Process.Cwd = "/nosuch"
	noUser := execArgs("true")
	noUser.Process.User = "nosuchuser"
	for _, tc := range []struct {
		spec exec.ExecSpec
		want string
	}{
		{execArgs("nosuch"), `exec: "nosuch": executable file not found in $PATH`},
		{execArgs("/bin/nosuch"), `exec: "/bin/nosuch": stat /bin/nosuch: no such file or directory`},
		{execArgs("/bad"), `exec: "/bad": exec format error`},
		{noCwd, `"/nosuch"`},
		{noUser, "nosuchuser"},
	} {
		_, err := d.Exec(context.Background(), spec.ID, tc.spec)
		if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Exec %q (user %q, cwd %q): %v; want InvalidParameter with %q", tc.spec.Process.Args, tc.spec.Process.User, tc.spec.Process.Cwd, err, tc.want)
		}
		if _, err := c.ExecInfo(context.Background(), tc.spec.ID); !errdefs.IsNotFound(err) {
			t.Errorf("ExecInfo of refused %q: %v, want NotFound", tc.spec.Process.Args, err)
		}
	}
	if left := attachProcesses(spec.ID); len(left) > 0 {
		t.Errorf("lxc-attach still running: %v", left)
	}
	// Only the init is left in the container, once the supervisor
	// reaped the killed helpers.
	var pids []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		procs, _ := os.ReadDir("/proc/" + strconv.Itoa(st.Pid) + "/root/proc")
		pids = pids[:0]
		for _, e := range procs {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, e.Name())
			}
		}
		if len(pids) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if len(pids) != 1 {
		t.Errorf("processes in the container: %v, want only its init", pids)
	}
}

// leakFd gives the test process a descriptor without close-on-exec, which
// every child inherits (the supervisor, lxc-start, lxc-attach), as a
// daemon started with stray descriptors would pass them on; closed when
// t ends.
func leakFd(t *testing.T) int {
	t.Helper()
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestExecGetsOnlyItsStdio: descriptors the supervisor inherited do not
// reach an exec process, nor the init (lxc-start -C); and an exec adds
// nothing to the container's log (LXC's monitor, whose stderr is the
// container's, printed an error there for each lxc-attach: LogConfig).
func TestExecGetsOnlyItsStdio(t *testing.T) {
	d := newTestDriver(t)
	leakFd(t)
	spec := testSpec(t, d, "sh", "-c", "ls /proc/self/fd; exec sleep 1000")
	runningContainer(t, d, spec)
	// ls's own descriptor on /proc/self/fd is 3.
	if out, _, _ := execOutput(t, d, spec.ID, execArgs("ls", "/proc/self/fd")); !slices.Equal(strings.Fields(out), []string{"0", "1", "2", "3"}) {
		t.Errorf("an exec's descriptors: %q, want 0 1 2 and ls's 3", out)
	}
	if err := d.Signal(context.Background(), spec.ID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, d, spec.ID) // the log is complete
	log, _ := os.ReadFile(spec.LogPath)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		if _, rest, ok := strings.Cut(l, `"log":"`); ok {
			lines = append(lines, strings.TrimSuffix(rest[:strings.IndexByte(rest, '"')], `\n`))
		}
	}
	if !slices.Equal(lines, []string{"0", "1", "2", "3"}) {
		t.Errorf("the container's log: %q, want the init's descriptors 0 1 2 and ls's 3, nothing else", lines)
	}
}

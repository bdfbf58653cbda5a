package lxc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor/runtimetest"
	"github.com/pluggd/pluggd/core/errdefs"
)

// rtRun is a container created by a Runtime in the test process, which
// plays the supervisor (runtimetest): it holds the pipes and reaps
// lxc-start.
type rtRun struct {
	*runtimetest.Run
	rt *Runtime
}

// createRuntime creates spec's container with piped stdio and registers
// its cleanup, also on failure: kill and reap lxc-start, Destroy, check
// that nothing is left, remove the test's cgroup parent.
func createRuntime(t *testing.T, spec exec.ContainerSpec) (*rtRun, error) {
	t.Helper()
	requireLXC(t)
	// A parent of our own, so that a failed run leaves nothing under the
	// shared "docker" parent.
	spec.CgroupParent = "pluggd-lxctest-" + spec.ID[:12]
	t.Cleanup(func() { removeCgroups(spec.CgroupParent) })
	rt, err := NewRuntime(exectest.StateRoot(t), spec, HostInfo())
	if err != nil {
		t.Fatal(err)
	}
	run, err := runtimetest.Create(t, rt, runtimetest.Options{
		AfterDestroy: func(t *testing.T) { assertNothingLeft(t, rt) },
	})
	if err != nil {
		return nil, err
	}
	return &rtRun{Run: run, rt: rt}, nil
}

// assertNothingLeft checks that the container's cgroups, its init and
// LXC's runtime files are gone.
func assertNothingLeft(t *testing.T, rt *Runtime) {
	t.Helper()
	for _, d := range rt.cgroupDirs() {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left behind", d)
		}
	}
	if pid := rt.InitPid(); pid > 0 {
		deadline := time.Now().Add(2 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("the container's init %d is still alive", pid)
		}
	}
	if _, err := os.Stat(rt.path(lxcPathDir)); err == nil {
		t.Errorf("LXC's runtime files %s left behind", rt.path(lxcPathDir))
	}
}

// alive: a zombie counts as gone.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func runRuntime(t *testing.T, spec exec.ContainerSpec) (string, string, exec.ExitStatus) {
	t.Helper()
	r, err := createRuntime(t, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return r.Output()
}

func TestRuntimeStdioAndExitCode(t *testing.T) {
	requireLXC(t)
	out, errOut, st := runRuntime(t, exectest.Spec(t, "sh", "-c", "echo out; echo err >&2; exit 3"))
	if out != "out\n" || errOut != "err\n" || st.Code != 3 {
		t.Errorf("got stdout %q, stderr %q, %+v; want out, err, exit 3", out, errOut, st)
	}
}

// TestRuntimeGateHoldsTheProgram: after Create the container exists and
// its init (in its own pid namespace, in the container's cgroup) waits;
// the program runs only after Start.
func TestRuntimeGateHoldsTheProgram(t *testing.T) {
	requireLXC(t)
	shared := t.TempDir()
	spec := exectest.Spec(t, "touch", "/shared/ran")
	spec.Mounts = []exec.Mount{{Source: shared, Destination: "/shared", Options: []string{"rbind"}}}
	r, err := createRuntime(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	init := r.rt.InitPid()
	if init <= 0 || !alive(init) {
		t.Fatalf("InitPid %d is not a live process", init)
	}
	ours, _ := os.Readlink("/proc/self/ns/pid")
	theirs, _ := os.Readlink("/proc/" + strconv.Itoa(init) + "/ns/pid")
	if theirs == "" || theirs == ours {
		t.Errorf("the init's pid namespace is %q, want one other than ours (%q)", theirs, ours)
	}
	if cg, _ := os.ReadFile("/proc/" + strconv.Itoa(init) + "/cgroup"); !strings.Contains(string(cg), spec.CgroupParent+"/"+spec.ID) {
		t.Errorf("the init's cgroups %q do not name the container's", cg)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(shared, "ran")); err == nil {
		t.Fatal("the program ran before Start")
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := r.Wait(); st.Code != 0 {
		t.Fatalf("exit %+v", st)
	}
	if _, err := os.Stat(filepath.Join(shared, "ran")); err != nil {
		t.Errorf("the program did not run after Start: %v", err)
	}
}

func TestRuntimeSignals(t *testing.T) {
	requireLXC(t)
	// SIGKILL kills lxc-start, and the container with it.
	r, err := createRuntime(t, exectest.Spec(t, "sleep", "100"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	unix.Kill(r.Created.Pid, unix.SIGKILL)
	if st := r.Wait(); st.Code != 137 {
		t.Errorf("SIGKILL: %+v, want 137", st)
	}

	// Other signals reach the program: LXC's monitor forwards them to the
	// container's init, which is the program.
	r, err = createRuntime(t, exectest.Spec(t, "sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The trap is set once the shell ran its first command; with the
	// output still open there is no line to read yet, so poll for the
	// sleep instead: it is a child of the init.
	deadline := time.Now().Add(10 * time.Second)
	for !hasChild(r.rt.InitPid()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	unix.Kill(r.Created.Pid, unix.SIGTERM)
	if st := r.Wait(); st.Code != 42 {
		t.Errorf("trapped SIGTERM: %+v, want 42", st)
	}

	// The program killed by a signal from the host (not through the
	// monitor, which then exits 0): the status comes from LXC's log.
	r, err = createRuntime(t, exectest.Spec(t, "sleep", "100"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Created.ContainerPid != r.rt.InitPid() || r.Created.ContainerPid == r.Created.Pid {
		t.Errorf("Created = %+v, want ContainerPid = the init %d", r.Created, r.rt.InitPid())
	}
	unix.Kill(r.rt.InitPid(), unix.SIGKILL)
	if st := r.Wait(); st.Code != 137 {
		t.Errorf("program killed: %+v, want 137", st)
	}
}

func hasChild(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	return err == nil && len(strings.Fields(string(b))) > 0
}

// TestRuntimeKilledBeforeStart: SIGKILL to a created container (how the
// daemon discards one) ends it, and Destroy leaves nothing: no init, no
// hook waiting at the gate, no cgroup.
func TestRuntimeKilledBeforeStart(t *testing.T) {
	requireLXC(t)
	r, err := createRuntime(t, exectest.Spec(t, "echo", "never"))
	if err != nil {
		t.Fatal(err)
	}
	unix.Kill(r.Created.Pid, unix.SIGKILL)
	if st := r.Wait(); st.Code != 137 {
		t.Errorf("got %+v, want 137", st)
	}
	if err := r.rt.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, r.rt)
	if out := runtimetest.Recv(t, r.Stdout); out != "" {
		t.Errorf("the program ran: %q", out)
	}
	// The hook, orphaned when lxc-start died, was reparented to init
	// (or the nearest subreaper) and exits once the gate is released.
	deadline := time.Now().Add(2 * time.Second)
	for hookRunning(r.rt) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if hookRunning(r.rt) {
		t.Error("the gate hook is still waiting")
	}
}

func hookRunning(rt *Runtime) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(b), rt.path(hookFile)) && alive(mustAtoi(e.Name())) {
			return true
		}
	}
	return false
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

func TestRuntimeMissingProgramFailsCreate(t *testing.T) {
	requireLXC(t)
	for _, args := range [][]string{{"nosuch"}, {"/bin/nosuch"}} {
		_, err := createRuntime(t, exectest.Spec(t, args...))
		if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "nosuch") {
			t.Errorf("Create %v: %v, want InvalidParameter naming the program", args, err)
		}
	}
}

// TestRuntimeUserResolvedInRootfs: names and a lone uid are resolved in
// the container's /etc/passwd and /etc/group, and HOME comes from the
// passwd entry (checked for root, whose home the test image fixes).
func TestRuntimeUserResolvedInRootfs(t *testing.T) {
	requireLXC(t)
	for user, want := range map[string]string{
		"":           "0 0 /root",
		"daemon":     "1 1",
		"65534":      "65534 65534",
		"nobody:tty": "65534 5",
		"1:5":        "1 5",
	} {
		spec := exectest.Spec(t, "sh", "-c", `echo $(id -u) $(id -g) "$HOME"`)
		spec.Process.User = user
		out, _, st := runRuntime(t, spec)
		got := strings.Fields(out)
		if len(got) > 2 && user != "" {
			got = got[:2] // HOME depends on the image's entry
		}
		if st.Code != 0 || strings.Join(got, " ") != want {
			t.Errorf("user %q: %q, exit %d; want %q", user, out, st.Code, want)
		}
	}
	spec := exectest.Spec(t, "true")
	spec.Process.User = "nosuchuser"
	if _, err := createRuntime(t, spec); !errdefs.IsInvalidParameter(err) {
		t.Errorf("unknown user: %v, want InvalidParameter", err)
	}
}

// TestRuntimeHostPidNamespace: a container sharing the host's pid
// namespace is created and runs in it. LXC is given this process's
// namespace, not pid 1's, which may be unreadable.
func TestRuntimeHostPidNamespace(t *testing.T) {
	requireLXC(t)
	spec := exectest.Spec(t, "sh", "-c", "echo $$")
	spec.SharedNamespaces = map[string]string{"pid": "host"}
	r, err := createRuntime(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := os.Readlink("/proc/self/ns/pid")
	if theirs, _ := os.Readlink("/proc/" + strconv.Itoa(r.rt.InitPid()) + "/ns/pid"); theirs != ours {
		t.Errorf("the init's pid namespace is %q, want ours (%q)", theirs, ours)
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := r.Wait()
	// In the host's namespace the shell's pid is a host pid: never 1 or 2.
	if out := strings.TrimSpace(runtimetest.Recv(t, r.Stdout)); st.Code != 0 || out == "1" || out == "2" || out == "" {
		t.Errorf("got pid %q, %+v; want a host pid, exit 0", out, st)
	}
}

// TestRuntimeOOM: a program over its memory limit is killed by the
// kernel; the status is 137 (from LXC's log) with OOMKilled (from the
// memory cgroup's counter).
func TestRuntimeOOM(t *testing.T) {
	if HostInfo().CgroupV2 {
		t.Skip("the limit is written as lxc.cgroup.* (cgroup v1) here; a unified host uses memory.max")
	}
	spec := exectest.Spec(t, "sh", "-c", `x=$(head -c 201326592 /dev/zero | tr '\0' a); echo survived`)
	spec.Resources = exec.Resources{Memory: 48 << 20, MemorySwap: 48 << 20}
	r, err := createRuntime(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := r.Wait(); st.Code != 137 || !st.OOMKilled {
		t.Fatalf("over the memory limit: %+v, want 137 and OOMKilled", st)
	}
	if out := runtimetest.Recv(t, r.Stdout); out != "" {
		t.Errorf("output %q, want none", out)
	}
}

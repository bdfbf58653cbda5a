package native

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// newTestDriver starts a driver on a fresh short root. Its cleanup kills
// and deletes every container the root holds, also when the test failed.
func newTestDriver(t *testing.T, root string) *Driver {
	t.Helper()
	if root == "" {
		root = exectest.StateRoot(t)
	}
	d, err := newDriver(exec.InitOptions{Root: root}, "/proc/self/exe")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { removeAll(t, d) })
	return d
}

// removeAll kills every container of d and deletes it.
func removeAll(t *testing.T, d *Driver) {
	ctx := context.Background()
	states, err := d.Restore(ctx)
	if err != nil {
		t.Errorf("cleanup: Restore: %v", err)
		return
	}
	for _, st := range states {
		if st.Status == exec.StatusPaused {
			d.Resume(ctx, st.ID)
		}
		if st.Status != exec.StatusStopped {
			d.Signal(ctx, st.ID, syscall.SIGKILL)
			waitStopped(t, d, st.ID)
		}
		if err := d.Delete(ctx, st.ID); err != nil {
			t.Errorf("cleanup: Delete %s: %v", st.ID, err)
		}
	}
}

// waitStopped polls State until the container stopped and its supervisor
// is gone (it exits once the status is recorded).
func waitStopped(t *testing.T, d *Driver, id string) exec.State {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := d.State(context.Background(), id)
		if err != nil {
			t.Fatalf("State: %v", err)
		}
		if st.Status == exec.StatusStopped && (st.SupervisorPid == 0 || unix.Kill(st.SupervisorPid, 0) != nil) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not stop: %+v", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait asks the container's supervisor for the exit status.
func waitExit(t *testing.T, socket string) exec.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := supervisor.Dial(ctx, socket)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	st, _, err := c.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// waitExitIfUp is waitExit for a supervisor that may have exited already
// (a short program's): its recorded status is then in State.
func waitExitIfUp(t *testing.T, socket string) exec.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := supervisor.Dial(ctx, socket)
	if err != nil {
		return exec.ExitStatus{}
	}
	st, _, err := c.Wait(ctx)
	if err != nil {
		return exec.ExitStatus{}
	}
	return st
}

func TestDriverInfo(t *testing.T) {
	d := newTestDriver(t, "")
	info, err := d.Info(context.Background())
	if err != nil || info.Name != "native-0.2" || !info.Capabilities.Tty || !info.Capabilities.Pause || !info.Capabilities.Stats || info.Capabilities.LxcConf {
		t.Fatalf("Info: %+v %v", info, err)
	}
	if _, err := newDriver(exec.InitOptions{Root: t.TempDir(), Options: []string{"foo=bar"}}, ""); !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), `"foo"`) {
		t.Fatalf("unknown option: %v", err)
	}
}

func TestDriverRunEcho(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newTestDriver(t, "")
	spec := exectest.Spec(t, "echo", "hi")
	st, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if st.Status != exec.StatusCreated || st.Supervisor == "" || st.SupervisorPid == 0 {
		t.Fatalf("after Create: %+v", st)
	}
	socket := st.Supervisor
	if st, err = d.Start(ctx, spec.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	// echo may be done already: then State has no supervisor any more.
	if st.Status != exec.StatusRunning && st.Status != exec.StatusStopped {
		t.Errorf("after Start: %v", st.Status)
	}
	if _, err := d.Start(ctx, spec.ID); !errdefs.IsConflict(err) {
		t.Errorf("second Start: %v, want Conflict", err)
	}
	if exit := waitExitIfUp(t, socket); exit.Code != 0 {
		t.Fatalf("exit: %+v", exit)
	}
	st = waitStopped(t, d, spec.ID)
	if st.Exit.Code != 0 || st.Exit.Error != "" {
		t.Fatalf("State after exit: %+v", st)
	}
	b, err := os.ReadFile(spec.LogPath)
	if err != nil || !strings.Contains(string(b), `"log":"hi\n","stream":"stdout"`) {
		t.Errorf("log %s: %q %v", spec.LogPath, b, err)
	}
	if err := d.Signal(ctx, spec.ID, syscall.SIGKILL); !errdefs.IsConflict(err) {
		t.Errorf("Signal after exit: %v, want Conflict", err)
	}
	if err := d.Delete(ctx, spec.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := d.State(ctx, spec.ID); !errdefs.IsNotFound(err) {
		t.Errorf("State after Delete: %v, want NotFound", err)
	}
	if ents, _ := os.ReadDir(d.dirs.Root); len(ents) != 0 {
		t.Errorf("root not empty after Delete: %v", ents)
	}
	assertNoContainerLeft(t, d.dirs.Root, spec)
}

func TestDriverMissingCommand(t *testing.T) {
	t.Parallel()
	d := newTestDriver(t, "")
	spec := exectest.Spec(t, "nosuch")
	_, err := d.Create(context.Background(), spec)
	if !errdefs.IsInvalidParameter(err) || err.Error() != `exec: "nosuch": executable file not found in $PATH` {
		t.Fatalf("Create: %v (%v), want InvalidParameter exec: \"nosuch\": executable file not found in $PATH", err, errdefs.ClassOf(err))
	}
	if ents, _ := os.ReadDir(d.dirs.Root); len(ents) != 0 {
		t.Errorf("driver state left after a failed Create: %v", ents)
	}
	assertNoContainerLeft(t, d.dirs.Root, spec)
	if _, err := d.State(context.Background(), spec.ID); !errdefs.IsNotFound(err) {
		t.Errorf("State: %v, want NotFound", err)
	}
}

func TestDriverSignalPauseStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newTestDriver(t, "")
	spec := exectest.Spec(t, "sleep", "100")
	if _, err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st, err := d.Start(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exec.StatusRunning || st.Pid == 0 {
		t.Fatalf("after Start: %+v", st)
	}
	if err := d.Pause(ctx, spec.ID); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if st, _ := d.State(ctx, spec.ID); st.Status != exec.StatusPaused {
		t.Errorf("State after Pause: %v", st.Status)
	}
	if err := d.Delete(ctx, spec.ID); !errdefs.IsConflict(err) {
		t.Errorf("Delete paused: %v, want Conflict", err)
	}
	if err := d.Resume(ctx, spec.ID); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if err := d.Resume(ctx, spec.ID); !errdefs.IsConflict(err) {
		t.Errorf("Resume of a running container: %v, want Conflict", err)
	}
	stats, err := d.Stats(ctx, spec.ID)
	if err != nil || stats.MemoryUsage == 0 || stats.Pids != 1 || stats.Read.IsZero() {
		t.Errorf("Stats: %+v %v", stats, err)
	}
	if err := d.Delete(ctx, spec.ID); !errdefs.IsConflict(err) {
		t.Errorf("Delete running: %v, want Conflict", err)
	}
	if err := d.Signal(ctx, spec.ID, syscall.SIGKILL); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if exit := waitExit(t, st.Supervisor); exit.Code != 137 {
		t.Fatalf("exit after SIGKILL: %+v, want 137", exit)
	}
	if st := waitStopped(t, d, spec.ID); st.Exit.Code != 137 {
		t.Fatalf("State: %+v", st)
	}
	if _, err := d.Stats(ctx, spec.ID); !errdefs.IsConflict(err) {
		t.Errorf("Stats after exit: %v, want Conflict", err)
	}
	if err := d.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	assertNoContainerLeft(t, d.dirs.Root, spec)
}

// A created container that never starts ends when the daemon kills its
// init; its supervisor then records the status and exits.
func TestDriverKillCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newTestDriver(t, "")
	spec := exectest.Spec(t, "echo", "never")
	if _, err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.Signal(ctx, spec.ID, syscall.SIGKILL); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if st := waitStopped(t, d, spec.ID); st.Exit.Code != 137 {
		t.Fatalf("State: %+v", st)
	}
	if err := d.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	assertNoContainerLeft(t, d.dirs.Root, spec)

	// Delete discards a created container at once.
	spec = exectest.Spec(t, "echo", "never")
	st, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, spec.ID); err != nil {
		t.Fatalf("Delete of a created container: %v", err)
	}
	if supervisor.ProcessAlive(st.SupervisorPid) {
		t.Errorf("supervisor %d alive after Delete", st.SupervisorPid)
	}
	if ents, _ := os.ReadDir(d.dirs.Root); len(ents) != 0 {
		t.Errorf("root not empty after Delete: %v", ents)
	}
	assertNoContainerLeft(t, d.dirs.Root, spec)
}

// The plugin-death story: a container created and started by a driver
// process keeps running after that process is SIGKILLed, and a new driver
// on the same root finds it with Restore and can stop it.
func TestDriverContainerOutlivesDriverProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := exectest.StateRoot(t)
	spec := exectest.Spec(t, "sh", "-c", "echo started; sleep 100")
	specPath := filepath.Join(t.TempDir(), "spec.json")
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The new driver's cleanup also kills what the helper left.
	d := newTestDriver(t, root)

	helper := osexec.Command("/proc/self/exe", helperDriverRole, root, specPath)
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		t.Fatalf("helper driver: %v", err)
	}
	var started exec.State
	if err := json.Unmarshal(line, &started); err != nil || started.Status != exec.StatusRunning {
		t.Fatalf("helper driver: %s (%v)", line, err)
	}
	helper.Process.Kill()
	helper.Wait()

	time.Sleep(200 * time.Millisecond)
	if err := unix.Kill(started.Pid, 0); err != nil {
		t.Fatalf("container init %d died with the driver process: %v", started.Pid, err)
	}
	states, err := d.Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].ID != spec.ID || states[0].Status != exec.StatusRunning || states[0].Pid != started.Pid || states[0].Supervisor != started.Supervisor {
		t.Fatalf("Restore: %+v, want the running container %+v", states, started)
	}
	if err := d.Signal(ctx, spec.ID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Signal(ctx, spec.ID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if exit := waitExit(t, started.Supervisor); exit.Code != 137 {
		t.Fatalf("exit: %+v", exit)
	}
	waitStopped(t, d, spec.ID)
	if err := d.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	assertNoContainerLeft(t, root, spec)
}

// A killed supervisor takes its container with it (the init's parent-death
// signal), and State then says so; Delete removes libcontainer's leftovers.
func TestDriverSupervisorKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newTestDriver(t, "")
	spec := exectest.Spec(t, "sleep", "100")
	if _, err := d.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st, err := d.Start(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(st.SupervisorPid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for unix.Kill(st.Pid, 0) == nil || unix.Kill(st.SupervisorPid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("init %d or supervisor %d still alive", st.Pid, st.SupervisorPid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := d.State(ctx, spec.ID)
	if err != nil || got.Status != exec.StatusStopped || got.Exit.Error == "" {
		t.Fatalf("State: %+v %v, want stopped with an error", got, err)
	}
	if err := d.Delete(ctx, spec.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertNoContainerLeft(t, d.dirs.Root, spec)
}

func TestDriverIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newTestDriver(t, "")
	for _, f := range []func() error{
		func() error { _, err := d.State(ctx, "nosuch"); return err },
		func() error { _, err := d.Start(ctx, "nosuch"); return err },
		func() error { return d.Signal(ctx, "nosuch", syscall.SIGKILL) },
		func() error { return d.Delete(ctx, "nosuch") },
		func() error { return d.Pause(ctx, "nosuch") },
		func() error { return d.Resume(ctx, "nosuch") },
		func() error { _, err := d.Stats(ctx, "nosuch"); return err },
		func() error { _, err := d.State(ctx, "../x"); return err },
	} {
		if err := f(); !errdefs.IsNotFound(err) {
			t.Errorf("unknown id: %v, want NotFound", err)
		}
	}
	// Two ids with the same 12-character prefix: the second is refused.
	a := exectest.Spec(t, "sleep", "100")
	b := a
	b.ID = a.ID[:12] + strings.Repeat("0", 52)
	if b.ID == a.ID {
		b.ID = a.ID[:12] + strings.Repeat("1", 52)
	}
	if _, err := d.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(ctx, b); !errdefs.IsConflict(err) {
		t.Fatalf("Create with a colliding prefix: %v, want Conflict", err)
	}
	if _, err := d.Create(ctx, a); !errdefs.IsConflict(err) {
		t.Fatalf("Create twice: %v, want Conflict", err)
	}
	if _, err := d.State(ctx, b.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("State of the refused id: %v, want NotFound", err)
	}
}

// Start returned while libcontainer's Go init still ran between closing
// the exec fifo and its execve, so a signal sent right after Start could
// reach the init instead of the program (the contract says Start returns
// once the program runs).
func TestDriverStartReturnsOnceTheProgramReplacedTheInit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newTestDriver(t, "")
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		spec := exectest.Spec(t, "sleep", "100")
		if _, err := d.Create(ctx, spec); err != nil {
			t.Fatal(err)
		}
		st, err := d.Start(ctx, spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.Pid))
		if err != nil {
			t.Fatalf("exe of the container's init %d: %v", st.Pid, err)
		}
		if fi, err := os.Stat(fmt.Sprintf("/proc/%d/exe", st.Pid)); err == nil && os.SameFile(fi, self) {
			t.Fatalf("after Start, the container's init %d still runs the driver's binary", st.Pid)
		}
		if filepath.Base(exe) != "busybox" {
			t.Errorf("after Start, the container's init %d runs %q, want busybox", st.Pid, exe)
		}
		if err := d.Signal(ctx, spec.ID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitStopped(t, d, spec.ID)
		if err := d.Delete(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
	}
}

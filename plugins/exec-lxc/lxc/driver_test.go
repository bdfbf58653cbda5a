package lxc

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

func newTestDriver(t *testing.T) *Driver {
	t.Helper()
	requireLXC(t)
	d, err := newDriver(t.Context(), exec.InitOptions{Root: exectest.StateRoot(t), DaemonProtocolMinor: exec.ProtocolMinor}, "/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	return withHelper(t, d)
}

// testSpec is exectest.Spec under a cgroup parent of the test's own,
// removed when t ends, with the container killed and deleted first if the
// test left it (registered after the parent's removal, so it runs before).
func testSpec(t *testing.T, d *Driver, args ...string) exec.ContainerSpec {
	t.Helper()
	spec := exectest.Spec(t, args...)
	spec.CgroupParent = "pluggd-lxctest-" + spec.ID[:12]
	t.Cleanup(func() { removeCgroups(spec.CgroupParent) })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := d.State(ctx, spec.ID); errdefs.IsNotFound(err) {
			return
		}
		d.Signal(ctx, spec.ID, syscall.SIGKILL)
		waitStopped(t, d, spec.ID)
		if err := d.Delete(ctx, spec.ID); err != nil {
			t.Errorf("cleanup: Delete: %v", err)
		}
	})
	return spec
}

func waitStopped(t *testing.T, d *Driver, id string) exec.State {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := d.State(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status == exec.StatusStopped && !supervisor.ProcessAlive(st.SupervisorPid) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not stop: %+v", id, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDriverInfo: with a static helper (withHelper) the driver offers
// terminals and exec; without one (the dynamic test binary) neither.
func TestDriverInfo(t *testing.T) {
	d := newTestDriver(t)
	info, err := d.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != DriverName(d.version) || !strings.HasPrefix(info.Name, "lxc-") {
		t.Errorf("Name %q, want lxc-<version>", info.Name)
	}
	if want := (exec.Capabilities{LxcConf: true, Pause: true, Stats: true, Tty: true, Exec: true}); info.Capabilities != want {
		t.Errorf("Capabilities %+v, want %+v", info.Capabilities, want)
	}
	d.helper = ""
	if info, _ := d.Info(context.Background()); info.Capabilities.Tty || info.Capabilities.Exec {
		t.Errorf("without a static helper: Capabilities %+v, want neither Tty nor Exec", info.Capabilities)
	}
	if _, err := d.Exec(context.Background(), exectest.Spec(t, "true").ID, exec.ExecSpec{}); !errdefs.IsNotFound(err) {
		t.Errorf("Exec in an unknown container: %v, want NotFound", err)
	}
}

// TestDriverRunsContainer runs a container through the driver and its
// supervisor: created (init waiting, in the container's cgroup), started,
// exit 3 recorded, output in the json-file log, deleted without leftovers.
func TestDriverRunsContainer(t *testing.T) {
	d := newTestDriver(t)
	ctx := context.Background()
	spec := testSpec(t, d, "sh", "-c", "echo hi $(hostname); exit 3")
	spec.LxcConf = [][2]string{{"lxc.utsname", "fromlxcconf"}}
	st, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != exec.StatusCreated || st.Supervisor == "" || st.Pid <= 0 {
		t.Fatalf("Create: %+v", st)
	}
	if cg, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cgroup"); !strings.Contains(string(cg), spec.CgroupParent+"/"+spec.ID) {
		t.Errorf("State.Pid %d is not in the container's cgroup: %q", st.Pid, cg)
	}
	if st, err = d.Start(ctx, spec.ID); err != nil || st.Status != exec.StatusRunning {
		t.Fatalf("Start: %+v, %v", st, err)
	}
	st = waitStopped(t, d, spec.ID)
	if st.Exit.Code != 3 || st.Pid != 0 {
		t.Errorf("stopped: %+v, want exit 3, Pid 0", st)
	}
	log, _ := os.ReadFile(spec.LogPath)
	if !strings.Contains(string(log), `"log":"hi fromlxcconf\n","stream":"stdout"`) {
		t.Errorf("log %q lacks the output", log)
	}
	if err := d.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.State(ctx, spec.ID); !errdefs.IsNotFound(err) {
		t.Errorf("State after Delete: %v, want NotFound", err)
	}
	if _, err := os.Stat(filepath.Join(d.dirs.Root, spec.ID[:supervisor.DirIDLen])); err == nil {
		t.Error("the container's directory is left")
	}
	rt := &Runtime{spec: spec}
	for _, dir := range rt.cgroupDirs() {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("cgroup %s left behind", dir)
		}
	}
}

// TestDriverDeleteCreated: a created container is discarded by Delete
// (the daemon's way to drop one that never ran).
func TestDriverDeleteCreated(t *testing.T) {
	d := newTestDriver(t)
	ctx := context.Background()
	spec := testSpec(t, d, "echo", "never")
	st, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if supervisor.ProcessAlive(st.Pid) || supervisor.ProcessAlive(st.SupervisorPid) {
		t.Errorf("init %d or supervisor %d still alive", st.Pid, st.SupervisorPid)
	}
	if log, _ := os.ReadFile(spec.LogPath); len(log) != 0 {
		t.Errorf("the program ran: %q", log)
	}
}

func TestDriverCreateRefusals(t *testing.T) {
	d := newTestDriver(t)
	ctx := context.Background()
	spec := testSpec(t, d, "nosuch")
	if _, err := d.Create(ctx, spec); !errdefs.IsInvalidParameter(err) {
		t.Errorf("missing program: %v, want InvalidParameter", err)
	}
	spec = testSpec(t, d, "true")
	spec.LxcConf = [][2]string{{"lxc.nosuchkey", "1"}}
	if _, err := d.Create(ctx, spec); !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "lxc.nosuchkey") {
		t.Errorf("unknown LxcConf key: %v, want InvalidParameter naming it", err)
	}
	if ents, _ := os.ReadDir(d.dirs.Root); len(ents) != 0 {
		t.Errorf("refused Creates left %d entries in the root", len(ents))
	}
}

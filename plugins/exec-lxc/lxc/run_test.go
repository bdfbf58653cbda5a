package lxc

import (
	"bytes"
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/test/require"
)

// requireLXC skips (or fails, when PLUGGD_REQUIRE names "lxc") without
// LXC's tools, and returns LXC's version.
func requireLXC(t *testing.T) string {
	t.Helper()
	require.Root(t)
	v, err := Version(context.Background())
	if err != nil {
		require.SkipOrFail(t, "lxc", err.Error())
	}
	return v
}

// runLXC runs spec's program with lxc-start -F and returns its stdout
// and exit code (from LXC's log, as the Runtime reads it).
func runLXC(t *testing.T, spec exec.ContainerSpec) (string, int) {
	t.Helper()
	dir := t.TempDir()
	// A parent of our own, removed afterwards, so a failed run leaves no
	// cgroup under the shared "docker" parent.
	spec.CgroupParent = "pluggd-lxctest-" + spec.ID[:12]
	t.Cleanup(func() { removeCgroups(spec.CgroupParent) })
	conf, err := Config(spec, HostInfo())
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte(LogConfig(filepath.Join(dir, "lxc.log"))+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Harmless when it already exited; stops it when the test failed
		// midway.
		_ = osexec.Command("lxc-stop", "-k", "-n", spec.ID, "-P", dir).Run()
	})
	var stdout, stderr bytes.Buffer
	cmd := StartCommand(spec.ID, dir, cfg, spec.Process.Args)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A hung LXC is killed (its container dies with it: LXC gives the
	// init SIGKILL as parent-death signal) rather than hanging the test.
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	err = cmd.Wait()
	timer.Stop()
	var ee *osexec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	code := cmd.ProcessState.ExitCode()
	log, _ := os.ReadFile(filepath.Join(dir, "lxc.log"))
	if m := startedRE.FindSubmatch(log); code == 0 && m != nil {
		pid, _ := strconv.Atoi(string(m[1]))
		code, _ = ExitFromLog(log, pid)
	}
	if stderr.Len() > 0 || (code != 0 && stdout.Len() == 0) {
		t.Logf("config:\n%s\nstderr: %s\nlxc log:\n%s", conf, stderr.String(), log)
	}
	return stdout.String(), code
}

// startedRE finds the init's host pid in LXC's log.
var startedRE = regexp.MustCompile(`Started "[^"]*" with pid "(\d+)"`)

func removeCgroups(parent string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		p := filepath.Join(r, parent)
		subs, _ := filepath.Glob(filepath.Join(p, "*", ""))
		for _, s := range subs {
			if fi, err := os.Stat(s); err == nil && fi.IsDir() {
				_ = os.Remove(s)
			}
		}
		_ = os.Remove(p)
	}
}

func TestLXCRunsEchoOnBusybox(t *testing.T) {
	v := requireLXC(t)
	t.Logf("LXC %s", v)
	out, code := runLXC(t, exectest.Spec(t, "echo", "hi"))
	if out != "hi\n" || code != 0 {
		t.Errorf("got %q, exit %d; want \"hi\\n\", 0", out, code)
	}
}

// TestLXCHonoursLxcConf runs a container whose LxcConf uses an LXC 1.x
// key (lxc.utsname) and a cgroup key, and reads both back inside. The
// cgroup tree is mounted (read-only, through LxcConf too) only for the
// test to read the limit.
func TestLXCHonoursLxcConf(t *testing.T) {
	requireLXC(t)
	spec := exectest.Spec(t, "sh", "-c", "hostname; cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.weight")
	spec.LxcConf = [][2]string{{"lxc.utsname", "fromlxcconf"}, {"lxc.mount.auto", "cgroup:ro"}}
	key, val := "lxc.cgroup.cpu.shares", "512"
	if HostInfo().CgroupV2 {
		key, val = "lxc.cgroup2.cpu.weight", "512"
	}
	spec.LxcConf = append(spec.LxcConf, [2]string{key, val})
	out, code := runLXC(t, spec)
	lines := strings.Fields(out)
	if code != 0 || len(lines) != 2 || lines[0] != "fromlxcconf" || lines[1] != val {
		t.Errorf("got %q, exit %d; want hostname fromlxcconf, %s, exit 0", out, code, val)
	}
}

// TestLXCExitCodes: the program is the container's pid 1, and its status
// is in LXC's log (lxc-start -F itself exits 0). As pid 1 it is immune to
// its own signals unless it handles them, as under the native driver.
func TestLXCExitCodes(t *testing.T) {
	requireLXC(t)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"exit 3", []string{"sh", "-c", "exit 3"}, 3},
		{"pid 1", []string{"sh", "-c", "exit $$"}, 1},
		{"trapped SIGTERM", []string{"sh", "-c", "trap 'exit 42' TERM; kill -TERM $$; sleep 5"}, 42},
		{"own SIGKILL ignored", []string{"sh", "-c", "kill -KILL $$; exit 7"}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, code := runLXC(t, exectest.Spec(t, tc.args...)); code != tc.want {
				t.Errorf("exit %d, want %d", code, tc.want)
			}
		})
	}
}

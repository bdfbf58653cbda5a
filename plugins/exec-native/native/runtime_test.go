package native

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor/runtimetest"
	"github.com/pluggd/pluggd/core/errdefs"
)

// rtRun is one container run through the Runtime in the test process,
// which plays the supervisor (runtimetest): it is the init's parent and
// reaps it.
type rtRun struct {
	*runtimetest.Run
	rt      *Runtime
	cgroups map[string]string
}

// newRuntime writes spec where the driver would and returns the Runtime a
// supervisor would build from it.
func newRuntime(t *testing.T, spec exec.ContainerSpec) *Runtime {
	t.Helper()
	dir := exectest.StateRoot(t)
	b, err := json.Marshal(containerFile{Spec: spec, Host: probeHost()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, supervisor.RecordFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	rt, err := NewRuntime(dir)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// createRuntime creates the container with piped stdio (or a terminal)
// and registers its cleanup: kill, reap, destroy, check that no cgroup is
// left, also on failure.
func createRuntime(t *testing.T, spec exec.ContainerSpec, stdin string) (*rtRun, error) {
	t.Helper()
	rt := newRuntime(t, spec)
	r := &rtRun{rt: rt}
	p := spec.Process
	run, err := runtimetest.Create(t, rt, runtimetest.Options{
		Terminal: p.Terminal, Width: p.ConsoleWidth, Height: p.ConsoleHeight,
		OpenStdin: p.OpenStdin, Stdin: stdin,
		AfterDestroy: func(t *testing.T) {
			for ss, p := range r.cgroups {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("cgroup %s (%s) left behind", p, ss)
					os.Remove(p)
				}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	r.Run = run
	if st, err := rt.container.State(); err == nil {
		r.cgroups = st.CgroupPaths
	}
	return r, nil
}

// runRuntime creates, starts and waits for a container; it returns
// stdout, stderr and the exit status.
func runRuntime(t *testing.T, spec exec.ContainerSpec, stdin string) (string, string, exec.ExitStatus) {
	t.Helper()
	r, err := createRuntime(t, spec, stdin)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return r.Output()
}

func TestRuntimeEchoAndExitCodes(t *testing.T) {
	t.Parallel()
	spec := exectest.Spec(t, "echo", "hi")
	out, errOut, st := runRuntime(t, spec, "")
	if out != "hi\n" || errOut != "" || st.Code != 0 || st.OOMKilled {
		t.Fatalf("echo hi: stdout %q stderr %q status %+v", out, errOut, st)
	}

	spec = exectest.Spec(t, "sh", "-c", "echo oops >&2; exit 3")
	out, errOut, st = runRuntime(t, spec, "")
	if out != "" || errOut != "oops\n" || st.Code != 3 {
		t.Fatalf("exit 3: stdout %q stderr %q status %+v", out, errOut, st)
	}
}

func TestRuntimeStdin(t *testing.T) {
	t.Parallel()
	spec := exectest.Spec(t, "cat")
	spec.Process.OpenStdin = true
	out, _, st := runRuntime(t, spec, "line 1\nline 2\n")
	if out != "line 1\nline 2\n" || st.Code != 0 {
		t.Fatalf("cat: %q %+v", out, st)
	}
}

func TestRuntimeMissingCommandFailsCreate(t *testing.T) {
	t.Parallel()
	spec := exectest.Spec(t, "nosuch")
	rt := newRuntime(t, spec)
	_, err := rt.Create(context.Background(), supervisor.Stdio{})
	if err == nil {
		t.Fatal("Create succeeded")
	}
	if !errdefs.IsInvalidParameter(err) || err.Error() != `exec: "nosuch": executable file not found in $PATH` {
		t.Fatalf("Create: %v (class %v), want InvalidParameter `exec: \"nosuch\": executable file not found in $PATH`", err, errdefs.ClassOf(err))
	}
	assertNoContainerLeft(t, rt.dir, spec)
}

// assertNoContainerLeft checks that nothing of spec's container remains:
// libcontainer state or cgroups.
func assertNoContainerLeft(t *testing.T, dir string, spec exec.ContainerSpec) {
	t.Helper()
	if ents, _ := os.ReadDir(filepath.Join(dir, lcDir)); len(ents) > 0 {
		t.Errorf("libcontainer state left in %s: %v", filepath.Join(dir, lcDir), ents)
	}
	for _, ss := range []string{"memory", "devices", "cpu", "freezer", "pids"} {
		own, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(own), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || !strings.Contains(","+parts[1]+",", ","+ss+",") {
				continue
			}
			mnt := "/sys/fs/cgroup/" + ss
			if _, err := os.Stat(mnt); err != nil {
				continue
			}
			p := filepath.Join(mnt, parts[2], defaultCgroupParent, spec.ID)
			if _, err := os.Stat(p); err == nil {
				t.Errorf("cgroup %s left behind", p)
				os.Remove(p)
			}
		}
	}
}

func TestRuntimeUserWorkdirEnvHostname(t *testing.T) {
	t.Parallel()
	spec := exectest.Spec(t, "sh", "-c", `id; pwd; echo "$FOO $HOME"; hostname; cat /proc/sys/kernel/domainname`)
	spec.Process.User = "daemon"
	spec.Process.Cwd = "/var/new"
	spec.Process.Env = append(spec.Process.Env, "FOO=bar")
	spec.Hostname = "myhost"
	spec.Domainname = "example.org"
	out, errOut, st := runRuntime(t, spec, "")
	want := "uid=1(daemon) gid=1(daemon)\n/var/new\nbar /usr/sbin\nmyhost\nexample.org\n"
	if out != want || st.Code != 0 {
		t.Fatalf("got %q (stderr %q, %+v), want %q", out, errOut, st, want)
	}

	spec = exectest.Spec(t, "sh", "-c", `id -u; id -g; id -G; echo "$HOME"`)
	spec.Process.User = "4242:5"
	out, _, _ = runRuntime(t, spec, "")
	if want := "4242\n5\n5\n/\n"; out != want {
		t.Fatalf("uid:gid: got %q, want %q", out, want)
	}

	spec = exectest.Spec(t, "true")
	spec.Process.User = "nosuchuser"
	if _, err := createRuntime(t, spec, ""); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("unknown user: %v, want InvalidParameter", err)
	}
}

// capEff reads CapEff from a container's /proc/self/status.
func capEff(t *testing.T, spec exec.ContainerSpec) uint64 {
	t.Helper()
	out, errOut, st := runRuntime(t, spec, "")
	if st.Code != 0 {
		t.Fatalf("status: %+v, stderr %q", st, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var n uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%x", &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no CapEff in %q", out)
	return 0
}

// capMask is the capability set of the given numbers.
func capMask(nums ...uint) uint64 {
	var m uint64
	for _, n := range nums {
		m |= 1 << n
	}
	return m
}

func TestRuntimeCapabilities(t *testing.T) {
	t.Parallel()
	// Docker 1.7's 14: chown 0, dac_override 1, fowner 3, fsetid 4, kill 5,
	// setgid 6, setuid 7, setpcap 8, net_bind_service 10, net_raw 13,
	// sys_chroot 18, mknod 27, audit_write 29, setfcap 31.
	docker := capMask(0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)
	spec := exectest.Spec(t, "cat", "/proc/self/status")
	if got := capEff(t, spec); got != docker {
		t.Errorf("default CapEff %#x, want Docker 1.7's %#x", got, docker)
	}

	spec = exectest.Spec(t, "cat", "/proc/self/status")
	spec.CapAdd = []string{"sys_admin", "NET_ADMIN"}
	spec.CapDrop = []string{"Chown", "net_admin"}
	// An added capability survives a drop of the same name (Docker 1.7).
	want := docker&^capMask(0) | capMask(21, 12)
	if got := capEff(t, spec); got != want {
		t.Errorf("CapAdd/CapDrop CapEff %#x, want %#x", got, want)
	}

	spec = exectest.Spec(t, "cat", "/proc/self/status")
	spec.CapDrop = []string{"all"}
	spec.CapAdd = []string{"kill"}
	if got := capEff(t, spec); got != capMask(5) {
		t.Errorf("drop all, add kill: CapEff %#x, want %#x", got, capMask(5))
	}

	spec = exectest.Spec(t, "true")
	spec.CapAdd = []string{"nosuchcap"}
	if _, err := createRuntime(t, spec, ""); !errdefs.IsInvalidParameter(err) {
		t.Errorf("unknown capability: %v, want InvalidParameter", err)
	}
}

func TestRuntimeMountsAndPaths(t *testing.T) {
	t.Parallel()
	spec := exectest.Spec(t, "sh", "-c", `
		echo 1 > /proc/sys/kernel/printk 2>/dev/null && echo proc-sys-writable
		touch /sys/x 2>/dev/null && echo sys-writable
		for f in /proc/kcore /proc/keys /proc/timer_list; do test -e $f && wc -c < $f; done | sort -u
		grep -E ' /dev/(pts|shm|mqueue) ' /proc/mounts | cut -d' ' -f2,3
		ls /dev | tr '\n' ' '; echo
		test -L /dev/ptmx && echo ptmx-link
		cat /vol/file
		touch /vol/new 2>/dev/null && echo vol-writable
		echo ok`)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "file"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Mounts = []exec.Mount{{Source: vol, Destination: "/vol", Options: []string{"ro"}}}
	out, errOut, st := runRuntime(t, spec, "")
	want := "0\n/dev/pts devpts\n/dev/shm tmpfs\n/dev/mqueue mqueue\n"
	if !strings.HasPrefix(out, want) || st.Code != 0 || !strings.HasSuffix(out, "ptmx-link\nfrom host\nok\n") {
		t.Fatalf("got %q (stderr %q, %+v), want it to start with %q and end with ptmx-link, the volume's file, ok", out, errOut, st, want)
	}
	for _, dev := range []string{"null", "zero", "full", "tty", "random", "urandom", "pts", "shm", "mqueue", "fd", "stdin", "stdout", "stderr"} {
		if !strings.Contains(out, " "+dev+" ") && !strings.Contains(out, "\n"+dev+" ") {
			t.Errorf("/dev lacks %s: %q", dev, out)
		}
	}

	// A user mount at /dev/shm replaces the default.
	spec = exectest.Spec(t, "sh", "-c", `grep ' /dev/shm ' /proc/mounts | cut -d' ' -f3`)
	spec.Mounts = []exec.Mount{{Source: t.TempDir(), Destination: "/dev/shm"}}
	if out, errOut, _ := runRuntime(t, spec, ""); strings.TrimSpace(out) == "tmpfs" || out == "" {
		t.Errorf("user /dev/shm: mounts %q (stderr %q), want the bind mount only", out, errOut)
	}

	// Privileged: /proc/sys and /sys writable, /proc/kcore not masked.
	spec = exectest.Spec(t, "sh", "-c", `grep -E ' /(sys|proc/sys) ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1; cat /proc/self/status | grep CapEff`)
	spec.Privileged = true
	out, errOut, _ = runRuntime(t, spec, "")
	if !strings.Contains(out, "/sys rw") || strings.Contains(out, "/proc/sys ro") {
		t.Errorf("privileged: %q (stderr %q)", out, errOut)
	}
}

func TestRuntimeTerminal(t *testing.T) {
	t.Parallel()
	spec := exectest.Spec(t, "sh", "-c", "test -t 0 && test -t 1 && echo tty; stty size")
	spec.Process.Terminal = true
	spec.Process.ConsoleWidth, spec.Process.ConsoleHeight = 100, 30
	out, _, st := runRuntime(t, spec, "")
	if out != "tty\r\n30 100\r\n" || st.Code != 0 {
		t.Fatalf("terminal: %q %+v", out, st)
	}
}

func TestRuntimeKilledBySignal(t *testing.T) {
	t.Parallel()
	spec := exectest.Spec(t, "sleep", "100")
	r, err := createRuntime(t, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(r.Created.Pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := r.Wait(); st.Code != 137 || st.OOMKilled {
		t.Fatalf("SIGKILL: %+v, want 137", st)
	}

	// SIGTERM to a pid 1 without a handler does nothing (the kernel
	// protects a namespace's init); a shell that traps it exits.
	spec = exectest.Spec(t, "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done")
	r, err = createRuntime(t, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	unix.Kill(r.Created.Pid, unix.SIGTERM)
	if st := r.Wait(); st.Code != 42 {
		t.Fatalf("trapped SIGTERM: %+v, want 42", st)
	}
}

func TestRuntimeCgroupLimitsAndOOM(t *testing.T) {
	t.Parallel()
	spec := exectest.Spec(t, "sh", "-c", `x=$(head -c 201326592 /dev/zero | tr '\0' a); echo survived`)
	// libcontainer's init runs in the cgroup before it execs the program:
	// leave room for a Go runtime (a -race one takes some 18 MiB).
	spec.Resources = exec.Resources{Memory: 48 << 20, MemorySwap: 48 << 20, CPUShares: 512}
	r, err := createRuntime(t, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	mem := r.cgroups["memory"]
	if mem == "" {
		t.Skip("no memory cgroup path (cgroup v2 host)")
	}
	if b, _ := os.ReadFile(filepath.Join(mem, "memory.limit_in_bytes")); strings.TrimSpace(string(b)) != "50331648" {
		t.Errorf("memory.limit_in_bytes %q", b)
	}
	if !strings.HasSuffix(filepath.Dir(mem), "/"+defaultCgroupParent) {
		t.Errorf("memory cgroup %s is not under %q", mem, defaultCgroupParent)
	}
	if b, _ := os.ReadFile(filepath.Join(r.cgroups["cpu"], "cpu.shares")); strings.TrimSpace(string(b)) != "512" {
		t.Errorf("cpu.shares %q", b)
	}
	if err := r.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := r.Wait()
	if st.Code != 137 || !st.OOMKilled {
		t.Fatalf("over the memory limit: %+v, want 137 and OOMKilled", st)
	}
}

func TestRuntimeCgroupResources(t *testing.T) {
	t.Parallel()
	host := probeHost()
	spec := exectest.Spec(t, "true")
	spec.Resources = exec.Resources{
		Memory: 32 << 20, CPUShares: 256, CPUPeriod: 100000, CPUQuota: 50000,
		CpusetCpus: "0", CpusetMems: "0", OomKillDisable: true,
	}
	r, err := createRuntime(t, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.cgroups["memory"] == "" {
		t.Skip("no cgroup v1 memory hierarchy (cgroup v2 host)")
	}
	want := map[string]string{
		"memory/memory.limit_in_bytes": "33554432",
		"cpu/cpu.shares":               "256",
		"cpu/cpu.cfs_period_us":        "100000",
		"cpu/cpu.cfs_quota_us":         "50000",
		"cpuset/cpuset.cpus":           "0",
		"cpuset/cpuset.mems":           "0",
	}
	if host.SwapAccounting {
		// Docker 1.7: memory+swap defaults to twice the memory limit.
		want["memory/memory.memsw.limit_in_bytes"] = "67108864"
	}
	for f, v := range want {
		ss, file, _ := strings.Cut(f, "/")
		b, err := os.ReadFile(filepath.Join(r.cgroups[ss], file))
		if err != nil || strings.TrimSpace(string(b)) != v {
			t.Errorf("%s: %q %v, want %s", f, b, err, v)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(r.cgroups["memory"], "memory.oom_control")); !strings.Contains(string(b), "oom_kill_disable 1") {
		t.Errorf("memory.oom_control: %q, want oom_kill_disable 1", b)
	}
	// The devices cgroup: deny all, then Docker 1.7's list.
	b, _ := os.ReadFile(filepath.Join(r.cgroups["devices"], "devices.list"))
	for _, rule := range []string{"c *:* m", "b *:* m", "c 1:3 rwm", "c 5:1 rwm", "c 4:0 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"} {
		if !strings.Contains(string(b), rule+"\n") {
			t.Errorf("devices.list lacks %q: %q", rule, b)
		}
	}
	if strings.Contains(string(b), "a *:* rwm") {
		t.Errorf("devices.list allows everything: %q", b)
	}

	spec = exectest.Spec(t, "true")
	spec.Resources.BlkioWeight = 500
	_, err = createRuntime(t, spec, "")
	if host.BlkioWeight && err != nil {
		t.Errorf("BlkioWeight: %v", err)
	}
	if !host.BlkioWeight && !errdefs.IsInvalidParameter(err) {
		t.Errorf("BlkioWeight without kernel support: %v, want InvalidParameter", err)
	}
}

func TestRuntimeNamespaces(t *testing.T) {
	t.Parallel()
	// Own net namespace: only lo, and it is up (IFF_UP|IFF_LOOPBACK).
	spec := exectest.Spec(t, "sh", "-c", `ls /sys/class/net; cat /sys/class/net/lo/flags; echo $$`)
	out, errOut, _ := runRuntime(t, spec, "")
	if out != "lo\n0x9\n1\n" {
		t.Errorf("own namespaces: %q (stderr %q), want only lo, up, and pid 1", out, errOut)
	}

	// The host's uts and net namespaces: the host's name and interfaces.
	host, _ := os.Hostname()
	spec = exectest.Spec(t, "sh", "-c", `hostname; ls /sys/class/net | wc -l`)
	spec.Hostname = "ignored"
	spec.SharedNamespaces = map[string]string{"uts": "host", "net": "host"}
	out, errOut, st := runRuntime(t, spec, "")
	ifaces, _ := os.ReadDir("/sys/class/net")
	if want := fmt.Sprintf("%s\n%d\n", host, len(ifaces)); out != want || st.Code != 0 {
		t.Errorf("host uts and net: %q (stderr %q, %+v), want %q", out, errOut, st, want)
	}

	spec = exectest.Spec(t, "true")
	spec.SharedNamespaces = map[string]string{"user": "host"}
	if _, err := createRuntime(t, spec, ""); !errdefs.IsInvalidParameter(err) {
		t.Errorf("sharing a user namespace: %v, want InvalidParameter", err)
	}
}

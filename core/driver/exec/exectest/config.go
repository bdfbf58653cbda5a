package exectest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pluggd/pluggd/core/driver/exec"
)

// configChecks: what a ContainerSpec asks of the container's confinement
// takes effect, however the driver translates it (libcontainer's config,
// LXC's keys, ...): mounts, a read-only rootfs, devices, capabilities,
// cgroup limits, rlimits.
func configChecks() []check {
	return []check{
		{name: "BindMounts", run: checkBindMounts},
		{name: "ReadonlyRootfs", run: checkReadonlyRootfs},
		{name: "Device", run: checkDevice},
		{name: "DefaultCapabilities", run: checkCaps(nil, nil, map[int]bool{capChown: true, capNetBindService: true, capSysAdmin: false, capNetAdmin: false})},
		{name: "CapAddDrop", run: checkCaps([]string{"NET_ADMIN"}, []string{"CHOWN"}, map[int]bool{capChown: false, capNetAdmin: true, capSysAdmin: false})},
		{name: "MemoryLimit", run: checkMemoryLimit},
		{name: "Rlimit", run: checkRlimit},
		{name: "Filesystems", run: checkFilesystems},
		{name: "Namespaces", run: checkNamespaces},
		{name: "SharedNetNamespace", run: checkSharedNet},
	}
}

// Capability numbers (linux/capability.h).
const (
	capChown          = 0
	capNetBindService = 10
	capNetAdmin       = 12
	capSysAdmin       = 21
)

// checkBindMounts: a host directory mounted read-write takes what the
// container writes; mounted "ro", it refuses writes.
func checkBindMounts(h *harness) {
	rw, ro := h.t.TempDir(), h.t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "f"), []byte("host"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	spec := h.spec("sh", "-c", "echo inside > /rw/f && cat /ro/f && ! touch /ro/g 2>/dev/null")
	spec.Mounts = append(spec.Mounts,
		exec.Mount{Source: rw, Destination: "/rw", Type: "bind", Options: []string{"rbind", "rw"}},
		exec.Mount{Source: ro, Destination: "/ro", Type: "bind", Options: []string{"rbind", "ro"}})
	if got := h.processOutput(spec); got != "host" {
		h.t.Errorf("cat /ro/f printed %q, want %q", got, "host")
	}
	if b, err := os.ReadFile(filepath.Join(rw, "f")); err != nil || string(b) != "inside\n" {
		h.t.Errorf("the read-write mount holds %q, %v; want what the container wrote", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "g")); err == nil {
		h.t.Error("the container wrote into a read-only mount")
	}
}

// checkReadonlyRootfs: ReadonlyRootfs makes / read-only, while a mount
// on it stays writable.
func checkReadonlyRootfs(h *harness) {
	rw := h.t.TempDir()
	spec := h.spec("sh", "-c", "! touch /x 2>/dev/null && touch /rw/y && echo ok")
	spec.ReadonlyRootfs = true
	spec.Mounts = append(spec.Mounts, exec.Mount{Source: rw, Destination: "/rw", Type: "bind", Options: []string{"rbind", "rw"}})
	if got := h.processOutput(spec); got != "ok\n" {
		h.t.Errorf("read-only rootfs: printed %q, want ok", got)
	}
	if _, err := os.Stat(filepath.Join(spec.Rootfs, "x")); err == nil {
		h.t.Error("the container wrote /x in a read-only rootfs")
	}
}

// checkDevice: a host device given in Devices is in the container at its
// PathInContainer and usable.
func checkDevice(h *harness) {
	spec := h.spec("sh", "-c", "head -c 5 /dev/xzero | wc -c")
	spec.Devices = append(spec.Devices, exec.Device{PathOnHost: "/dev/zero", PathInContainer: "/dev/xzero", Permissions: "rwm"})
	if got := strings.TrimSpace(h.processOutput(spec)); got != "5" {
		h.t.Errorf("reading /dev/xzero gave %q bytes, want 5", got)
	}
}

// checkCaps: the program's effective capabilities are Docker 1.7's
// defaults tweaked by CapAdd and CapDrop; want maps capability numbers to
// whether they must be present.
func checkCaps(add, drop []string, want map[int]bool) func(h *harness) {
	return func(h *harness) {
		spec := h.spec("sh", "-c", "grep CapEff /proc/self/status")
		spec.CapAdd, spec.CapDrop = add, drop
		out := strings.TrimSpace(h.processOutput(spec))
		hex := strings.TrimSpace(strings.TrimPrefix(out, "CapEff:"))
		eff, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			h.t.Fatalf("CapEff line %q: %v", out, err)
		}
		for c, present := range want {
			if got := eff&(1<<c) != 0; got != present {
				h.t.Errorf("CapAdd %v CapDrop %v: capability %d present = %v, want %v (CapEff %s)", add, drop, c, got, present, hex)
			}
		}
	}
}

// checkMemoryLimit: Resources.Memory is the limit of the container's
// memory cgroup, read on the host (memory.limit_in_bytes on cgroup v1,
// memory.max on v2).
func checkMemoryLimit(h *harness) {
	spec := h.spec("sleep", "1000")
	spec.Resources.Memory = 48 << 20
	st, parent, dirs := h.runInOwnCgroupParent(spec)
	var found bool
	for _, d := range dirs {
		for _, f := range []string{"memory.limit_in_bytes", "memory.max"} {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err != nil {
				continue
			}
			found = true
			if got := strings.TrimSpace(string(b)); got != strconv.Itoa(48<<20) {
				h.t.Errorf("%s = %s, want %d", filepath.Join(d, f), got, 48<<20)
			}
		}
	}
	if !found {
		h.t.Errorf("no memory cgroup of the container under %q among %v", parent, dirs)
	}
	// Deleted here, so that the cleanup above finds the parents empty.
	h.signal(spec.ID, syscall.SIGKILL)
	h.wait(st.Supervisor)
	h.waitStopped(spec.ID)
	h.delete(spec.ID)
}

// checkRlimit: Resources.Rlimits set the program's limits (below the
// host's hard limit, which root cannot raise here).
func checkRlimit(h *harness) {
	spec := h.spec("sh", "-c", "ulimit -n; ulimit -Hn")
	spec.Resources.Rlimits = []exec.Rlimit{{Type: "nofile", Soft: 1000, Hard: 1500}}
	if got := h.processOutput(spec); got != "1000\n1500\n" {
		h.t.Errorf("ulimit -n; ulimit -Hn printed %q, want 1000 and 1500", got)
	}
}

// checkFilesystems: the container's /dev, /proc and /sys are Docker
// 1.7's: the default device nodes, a writable /dev/shm, /dev/pts and
// /dev/mqueue, /sys read-only, /proc/sys read-only and /proc/kcore
// masked, while /proc itself works.
func checkFilesystems(h *harness) {
	script := strings.Join([]string{
		"for d in null zero full random urandom tty; do test -c /dev/$d || echo no /dev/$d; done",
		"echo x > /dev/shm/f || echo /dev/shm not writable",
		"grep -q ' /dev/pts devpts ' /proc/mounts || echo no /dev/pts",
		"grep -q ' /dev/mqueue mqueue ' /proc/mounts || echo no /dev/mqueue",
		"touch /sys/x 2>/dev/null && echo /sys writable",
		"(echo c > /proc/sys/kernel/hostname) 2>/dev/null && echo /proc/sys writable",
		"test -s /proc/kcore && echo /proc/kcore readable",
		"test -r /proc/self/status || echo no /proc",
		"echo done",
	}, "; ")
	if got := h.processOutput(h.spec("sh", "-c", script)); got != "done\n" {
		h.t.Errorf("the container's filesystems differ from Docker 1.7's:\n%s", got)
	}
}

// nsKinds are the namespaces a container has of its own (Docker 1.7: no
// user namespace).
var nsKinds = []string{"mnt", "uts", "ipc", "pid", "net"}

// containerNamespaces returns what the program sees as its namespaces,
// kind → "kind:[inode]".
func (h *harness) containerNamespaces(spec exec.ContainerSpec) map[string]string {
	h.t.Helper()
	spec.Process.Args = []string{"sh", "-c", "for n in " + strings.Join(nsKinds, " ") + "; do readlink /proc/self/ns/$n; done"}
	out := h.processOutput(spec)
	got := map[string]string{}
	for _, l := range strings.Fields(out) {
		kind, _, _ := strings.Cut(l, ":")
		got[kind] = l
	}
	return got
}

// checkNamespaces: the program has its own mnt, uts, ipc, pid and net
// namespaces, and sees only its own processes and the loopback device.
func checkNamespaces(h *harness) {
	got := h.containerNamespaces(h.spec("true"))
	for _, kind := range nsKinds {
		host, _ := os.Readlink("/proc/self/ns/" + kind)
		if got[kind] == "" || got[kind] == host {
			h.t.Errorf("%s namespace inside is %q, host's %q: want one of its own", kind, got[kind], host)
		}
	}
	out := h.processOutput(h.spec("sh", "-c", "ls /proc | grep -c '^[0-9]'; grep ':' /proc/net/dev | cut -d: -f1 | tr -d ' '"))
	// The shell, ls and grep at most: the host's processes are not there.
	f := append(strings.Fields(out), "", "")
	if n, err := strconv.Atoi(f[0]); err != nil || n > 5 || f[1] != "lo" || f[2] != "" {
		h.t.Errorf("processes and network devices inside: %q; want a few processes of its own and only lo", out)
	}
}

// checkSharedNet: SharedNamespaces "host" for net joins the host's
// network namespace (docker run --net=host) and keeps the others apart.
func checkSharedNet(h *harness) {
	spec := h.spec("true")
	spec.SharedNamespaces = map[string]string{"net": "host"}
	got := h.containerNamespaces(spec)
	for _, kind := range nsKinds {
		host, _ := os.Readlink("/proc/self/ns/" + kind)
		if shared := kind == "net"; (got[kind] == host) != shared {
			h.t.Errorf("%s namespace inside is %q, host's %q; shared with the host: want %v", kind, got[kind], host, shared)
		}
	}
}

package daemon

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hostInfo is what /info reports about the machine, read from the kernel's
// files. Paths are relative to procfs and sysfs roots so tests can point
// them at a fake tree.
type hostInfo struct {
	KernelVersion     string
	OperatingSystem   string
	MemTotal          int64
	MemoryLimit       bool
	SwapLimit         bool
	CpuCfsPeriod      bool
	CpuCfsQuota       bool
	OomKillDisable    bool
	IPv4Forwarding    bool
	BridgeNfIptables  bool
	BridgeNfIp6tables bool
}

// hostPaths locate the files hostinfo reads.
type hostPaths struct {
	proc, cgroup, osRelease string
}

func systemHostPaths() hostPaths {
	return hostPaths{proc: "/proc", cgroup: "/sys/fs/cgroup", osRelease: "/etc/os-release"}
}

func readHostInfo(p hostPaths) hostInfo {
	h := hostInfo{
		KernelVersion:     kernelVersion(p),
		OperatingSystem:   operatingSystem(p.osRelease),
		MemTotal:          memTotal(p.proc),
		IPv4Forwarding:    readFlag(filepath.Join(p.proc, "sys/net/ipv4/ip_forward")),
		BridgeNfIptables:  readFlag(filepath.Join(p.proc, "sys/net/bridge/bridge-nf-call-iptables")),
		BridgeNfIp6tables: readFlag(filepath.Join(p.proc, "sys/net/bridge/bridge-nf-call-ip6tables")),
	}
	h.cgroupLimits(p)
	return h
}

func kernelVersion(p hostPaths) string {
	if b, err := os.ReadFile(filepath.Join(p.proc, "sys/kernel/osrelease")); err == nil {
		return strings.TrimSpace(string(b))
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		return unix.ByteSliceToString(u.Release[:])
	}
	return ""
}

// operatingSystem is PRETTY_NAME from os-release, as Docker 1.7's
// operatingsystem.GetOperatingSystem read it.
func operatingSystem(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "<unknown>"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
			return strings.Trim(v, `"'`)
		}
	}
	return "<unknown>"
}

// memTotal is /proc/meminfo's MemTotal in bytes.
func memTotal(proc string) int64 {
	f, err := os.Open(filepath.Join(proc, "meminfo"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			if len(fields) >= 3 && strings.EqualFold(fields[2], "kB") {
				n *= 1024
			}
			return n
		}
	}
	return 0
}

func readFlag(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// cgroupLimits fills the limits the kernel's cgroups support. On cgroup v1
// these are Docker 1.7's sysinfo checks (a memory hierarchy;
// memory.memsw.limit_in_bytes; cpu.cfs_period_us and cpu.cfs_quota_us;
// memory.oom_control). On the unified hierarchy (v2) the equivalents are
// the memory and cpu controllers (cpu.max carries period and quota) and
// memory.swap.max; v2 has no oom_control, so OomKillDisable is false.
func (h *hostInfo) cgroupLimits(p hostPaths) {
	if exists(filepath.Join(p.cgroup, "cgroup.controllers")) {
		ctrl, _ := os.ReadFile(filepath.Join(p.cgroup, "cgroup.controllers"))
		has := map[string]bool{}
		for _, c := range strings.Fields(string(ctrl)) {
			has[c] = true
		}
		h.MemoryLimit = has["memory"]
		h.CpuCfsPeriod, h.CpuCfsQuota = has["cpu"], has["cpu"]
		// The swap files exist only in non-root cgroups, and only with
		// swap accounting compiled in.
		if h.MemoryLimit {
			h.SwapLimit = anyChildHas(p.cgroup, "memory.swap.max")
		}
		return
	}
	mem := filepath.Join(p.cgroup, "memory")
	h.MemoryLimit = exists(mem)
	h.SwapLimit = exists(filepath.Join(mem, "memory.memsw.limit_in_bytes"))
	h.OomKillDisable = exists(filepath.Join(mem, "memory.oom_control"))
	cpu := filepath.Join(p.cgroup, "cpu")
	h.CpuCfsPeriod = exists(filepath.Join(cpu, "cpu.cfs_period_us"))
	h.CpuCfsQuota = exists(filepath.Join(cpu, "cpu.cfs_quota_us"))
}

func anyChildHas(dir, file string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() && exists(filepath.Join(dir, e.Name(), file)) {
			return true
		}
	}
	return false
}

// countFDs is /info's NFd: the daemon's open descriptors.
func countFDs(proc string) int {
	entries, err := os.ReadDir(filepath.Join(proc, "self/fd"))
	if err != nil {
		return 0
	}
	return len(entries)
}

// proxyEnv reads a proxy variable the way Docker 1.7's getProxyEnv did:
// upper case first, then lower case.
func proxyEnv(name string) string {
	if v := os.Getenv(strings.ToUpper(name)); v != "" {
		return v
	}
	return os.Getenv(strings.ToLower(name))
}

// ncpu is /info's NCPU: runtime.NumCPU, as Docker 1.7 reported it.
func ncpu() int { return runtime.NumCPU() }

package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pluggd/pluggd/core/config"
	"github.com/pluggd/pluggd/core/driver/storage"
)

type fakeStorage struct{}

func (fakeStorage) Info(context.Context) (storage.Info, error) {
	return storage.Info{Name: "overlay"}, nil
}
func (fakeStorage) Status(context.Context) ([]storage.StatusPair, error) {
	return []storage.StatusPair{{Key: "Backing Filesystem", Value: "extfs"}}, nil
}

type fakeImages int

func (n fakeImages) Count(context.Context) (int, error) { return int(n), nil }

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, body := range files {
		p = filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The host facts come from the files the kernel exposes; a fake tree
// checks each is read (cgroup v1 layout).
func TestSystemInfoFromHostFiles(t *testing.T) {
	t.Parallel()
	tree := writeTree(t, map[string]string{
		"proc/sys/kernel/osrelease":                   "6.1.0-test\n",
		"proc/meminfo":                                "MemTotal:        2048 kB\nMemFree: 1 kB\n",
		"proc/sys/net/ipv4/ip_forward":                "1\n",
		"proc/sys/net/bridge/bridge-nf-call-iptables": "1\n",
		"proc/self/fd/0":                              "",
		"proc/self/fd/1":                              "",
		"cgroup/memory/memory.memsw.limit_in_bytes":   "",
		"cgroup/memory/memory.oom_control":            "",
		"cgroup/cpu/cpu.cfs_period_us":                "",
		"os-release":                                  "NAME=Debian\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n",
	})
	cfg := config.Default()
	cfg.Root, cfg.Debug, cfg.Labels = "/srv/p", true, []string{"a=b"}
	d := &Daemon{cfg: cfg, id: "ABCD:EFGH", storage: fakeStorage{}, images: fakeImages(3),
		hostPaths: hostPaths{proc: filepath.Join(tree, "proc"), cgroup: filepath.Join(tree, "cgroup"), osRelease: filepath.Join(tree, "os-release")}}
	info, err := d.SystemInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"ID":                {info.ID, "ABCD:EFGH"},
		"Images":            {info.Images, 3},
		"Driver":            {info.Driver, "overlay"},
		"DriverStatus":      {len(info.DriverStatus), 1},
		"KernelVersion":     {info.KernelVersion, "6.1.0-test"},
		"OperatingSystem":   {info.OperatingSystem, "Debian GNU/Linux 13 (trixie)"},
		"MemTotal":          {info.MemTotal, int64(2048 * 1024)},
		"IPv4Forwarding":    {info.IPv4Forwarding, true},
		"BridgeNfIptables":  {info.BridgeNfIptables, true},
		"BridgeNfIp6tables": {info.BridgeNfIp6tables, false},
		"MemoryLimit":       {info.MemoryLimit, true},
		"SwapLimit":         {info.SwapLimit, true},
		"OomKillDisable":    {info.OomKillDisable, true},
		"CpuCfsPeriod":      {info.CpuCfsPeriod, true},
		"CpuCfsQuota":       {info.CpuCfsQuota, false},
		"NFd":               {info.NFd, 2},
		"Debug":             {info.Debug, true},
		"DockerRootDir":     {info.DockerRootDir, "/srv/p"},
		"Labels":            {len(info.Labels), 1},
		"ExecutionDriver":   {info.ExecutionDriver, ""},
	}
	for k, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", k, c[0], c[1])
		}
	}
	if info.NCPU < 1 || info.NGoroutines < 1 || info.SystemTime == "" || info.RegistryConfig == nil {
		t.Errorf("info %+v", info)
	}
}

func TestCgroupV2Limits(t *testing.T) {
	t.Parallel()
	tree := writeTree(t, map[string]string{
		"cgroup.controllers":           "cpuset cpu io memory pids\n",
		"system.slice/memory.swap.max": "max\n",
		"system.slice/cgroup.procs":    "",
	})
	var h hostInfo
	h.cgroupLimits(hostPaths{cgroup: tree})
	if !h.MemoryLimit || !h.SwapLimit || !h.CpuCfsPeriod || !h.CpuCfsQuota || h.OomKillDisable {
		t.Fatalf("%+v", h)
	}
}

// On the test host itself: the values are plausible.
func TestRealHostInfo(t *testing.T) {
	t.Parallel()
	h := readHostInfo(systemHostPaths())
	if h.KernelVersion == "" || h.MemTotal <= 0 {
		t.Fatalf("%+v", h)
	}
}

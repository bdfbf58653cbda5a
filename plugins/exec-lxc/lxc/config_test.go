package lxc

import (
	"errors"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

func fakeHost(v2 bool) Host {
	return Host{
		CgroupV2: v2,
		IsDir:    func(p string) bool { return !strings.Contains(p, "file") },
		Device: func(p string) (byte, uint32, uint32, error) {
			if p == "/dev/sdz" {
				return 'b', 8, 0, nil
			}
			return 0, 0, 0, errors.New("no such device")
		},
	}
}

func baseSpec() exec.ContainerSpec {
	return exec.ContainerSpec{
		ID: "abc", Rootfs: "/var/lib/pluggd/rootfs", Hostname: "h1",
		Process: exec.Process{Args: []string{"sh"}, Env: []string{"PATH=/bin", "A=b c"}, Cwd: "/tmp", User: "1000:100"},
	}
}

func mustConfig(t *testing.T, spec exec.ContainerSpec, host Host) string {
	t.Helper()
	c, err := Config(spec, host)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantLines(t *testing.T, conf string, lines ...string) {
	t.Helper()
	have := strings.Split(conf, "\n")
	for _, l := range lines {
		found := false
		for _, h := range have {
			if h == l {
				found = true
			}
		}
		if !found {
			t.Errorf("missing line %q in\n%s", l, conf)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := mustConfig(t, baseSpec(), fakeHost(false))
	wantLines(t, c,
		"lxc.rootfs.path = dir:/var/lib/pluggd/rootfs",
		"lxc.pty.max = 1024", "lxc.tty.max = 0", "lxc.console.path = none",
		"lxc.uts.name = h1",
		"lxc.net.0.type = empty",
		"lxc.cgroup.dir.container = docker/abc",
		"lxc.cgroup.devices.deny = a",
		"lxc.cgroup.devices.allow = c 136:* rwm",
		"lxc.cgroup.devices.allow = c 1:3 rwm",
		"lxc.mount.auto = proc:mixed sys:ro",
		"lxc.mount.entry = shm dev/shm tmpfs nosuid,nodev,noexec,mode=1777,size=65536k,create=dir 0 0",
		"lxc.environment = PATH=/bin", "lxc.environment = A=b c",
		"lxc.init.cwd = /tmp", "lxc.init.uid = 1000", "lxc.init.gid = 100",
		"lxc.cap.keep = chown dac_override fsetid fowner mknod net_raw setgid setuid setfcap setpcap net_bind_service sys_chroot kill audit_write",
	)
	if strings.Contains(c, "10:229") {
		t.Error("/dev/fuse is allowed; Docker 1.7 created it but never allowed it")
	}
	// Every key written must be one LXC 5 knows.
	for _, l := range strings.Split(strings.TrimSpace(c), "\n") {
		if k, _, _ := strings.Cut(l, " = "); !strings.HasPrefix(l, "#") && !validKey(k) {
			t.Errorf("generated key %q is not an LXC 5 key", k)
		}
	}
}

func TestConfigLimitsV1AndV2(t *testing.T) {
	s := baseSpec()
	s.Resources = exec.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, CpusetCpus: "0", BlkioWeight: 500,
		Rlimits: []exec.Rlimit{{Type: "nofile", Soft: 1024, Hard: 2048}}}
	wantLines(t, mustConfig(t, s, fakeHost(false)),
		"lxc.cgroup.memory.limit_in_bytes = 67108864",
		"lxc.cgroup.memory.memsw.limit_in_bytes = 134217728",
		"lxc.cgroup.cpu.shares = 512", "lxc.cgroup.cpu.cfs_quota_us = 50000",
		"lxc.cgroup.cpuset.cpus = 0", "lxc.cgroup.blkio.weight = 500",
		"lxc.prlimit.nofile = 1024:2048")
	v2 := mustConfig(t, s, fakeHost(true))
	wantLines(t, v2,
		"lxc.cgroup2.memory.max = 67108864", "lxc.cgroup2.memory.swap.max = 67108864",
		"lxc.cgroup2.cpu.weight = 20", "lxc.cgroup2.cpu.max = 50000 100000",
		"lxc.cgroup2.cpuset.cpus = 0", "lxc.cgroup2.devices.deny = a")
	if strings.Contains(v2, "lxc.cgroup.memory") || strings.Contains(v2, "lxc.cgroup.devices") {
		t.Errorf("v1 keys on a v2 host:\n%s", v2)
	}
	s.Resources.OomKillDisable = true
	if _, err := Config(s, fakeHost(true)); !errdefs.IsInvalidParameter(err) {
		t.Errorf("OomKillDisable on v2: %v, want InvalidParameter", err)
	}
}

func TestConfigCapabilities(t *testing.T) {
	for _, tc := range []struct {
		add, drop []string
		want      string
	}{
		{drop: []string{"CAP_CHOWN", "mknod", "net_raw", "setgid", "setuid", "setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write", "fsetid", "fowner"}, add: []string{"Sys_Admin"},
			want: "lxc.cap.keep = dac_override sys_admin"},
		{drop: []string{"all"}, want: "lxc.cap.keep = none"},
		{drop: []string{"all"}, add: []string{"kill"}, want: "lxc.cap.keep = kill"},
		{add: []string{"all"}, drop: []string{"mknod", "kill"}, want: "lxc.cap.drop = mknod\nlxc.cap.drop = kill"},
		{add: []string{"kill", "all"}, drop: []string{"kill"}, want: ""},
	} {
		s := baseSpec()
		s.CapAdd, s.CapDrop = tc.add, tc.drop
		c := mustConfig(t, s, fakeHost(false))
		var got []string
		for _, l := range strings.Split(c, "\n") {
			if strings.HasPrefix(l, "lxc.cap.") {
				got = append(got, l)
			}
		}
		if strings.Join(got, "\n") != tc.want {
			t.Errorf("add %v drop %v: got %q, want %q", tc.add, tc.drop, got, tc.want)
		}
	}
	s := baseSpec()
	s.CapAdd = []string{"nosuch"}
	if _, err := Config(s, fakeHost(false)); !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown capability: %v", err)
	}
}

func TestConfigPrivileged(t *testing.T) {
	s := baseSpec()
	s.Privileged = true
	c := mustConfig(t, s, fakeHost(false))
	wantLines(t, c, "lxc.cgroup.devices.allow = a", "lxc.mount.auto = proc:rw sys:rw", "lxc.apparmor.profile = unconfined")
	if strings.Contains(c, "lxc.cap.") || strings.Contains(c, "devices.deny") {
		t.Errorf("privileged config restricts:\n%s", c)
	}
}

// TestConfigAppArmor: a host with AppArmor on but without LXC's profile
// runs containers unconfined (LXC would refuse to start them); with the
// profile, or without AppArmor, no line: LXC's default. LxcConf still
// overrides, coming last.
func TestConfigAppArmor(t *testing.T) {
	s := baseSpec()
	if c := mustConfig(t, s, fakeHost(false)); strings.Contains(c, "apparmor") {
		t.Errorf("AppArmor line without need:\n%s", c)
	}
	h := fakeHost(false)
	h.NoAppArmorProfile = true
	c := mustConfig(t, s, h)
	wantLines(t, c, "lxc.apparmor.profile = unconfined")
	if !strings.Contains(c, "lxc.cap.keep") {
		t.Errorf("unconfined must not drop the capability rules:\n%s", c)
	}
	s.LxcConf = [][2]string{{"lxc.aa_profile", "my-profile"}}
	c = mustConfig(t, s, h)
	if i, j := strings.Index(c, "lxc.apparmor.profile = unconfined"), strings.Index(c, "lxc.apparmor.profile = my-profile"); j < 0 || j < i {
		t.Errorf("LxcConf's profile does not come last:\n%s", c)
	}
}

func TestConfigMountsDevicesAndNamespaces(t *testing.T) {
	s := baseSpec()
	s.Mounts = []exec.Mount{
		{Source: "/srv/my data", Destination: "/data", Options: []string{"rbind", "ro"}},
		{Source: "/srv/a-file", Destination: "/etc/hosts", Type: "bind"},
		{Source: "tmpfs", Destination: "/dev/shm", Type: "tmpfs", Options: []string{"size=1m"}},
	}
	s.Devices = []exec.Device{{PathOnHost: "/dev/sdz", PathInContainer: "/dev/xvda", Permissions: "rw"}}
	s.SharedNamespaces = map[string]string{"net": "host", "ipc": "/proc/42/ns/ipc"}
	c := mustConfig(t, s, fakeHost(false))
	wantLines(t, c,
		`lxc.mount.entry = /srv/my\040data data none rbind,ro,create=dir 0 0`,
		"lxc.mount.entry = /srv/a-file etc/hosts none rbind,create=file 0 0",
		"lxc.mount.entry = tmpfs dev/shm tmpfs size=1m,create=dir 0 0",
		"lxc.cgroup.devices.allow = b 8:0 rw",
		"lxc.mount.entry = /dev/sdz dev/xvda none bind,create=file 0 0",
		"lxc.namespace.share.net = 1", "lxc.namespace.share.ipc = 42")
	if strings.Contains(c, "mode=1777,size=65536k") || strings.Contains(c, "lxc.net.0.type") {
		t.Errorf("a default survived its replacement:\n%s", c)
	}
	s.SharedNamespaces = map[string]string{"net": "/proc/x/ns/net"}
	if _, err := Config(s, fakeHost(false)); !errdefs.IsInvalidParameter(err) {
		t.Errorf("bad namespace path: %v", err)
	}
	s.SharedNamespaces = nil
	s.Devices = []exec.Device{{PathOnHost: "/dev/nosuch"}}
	if _, err := Config(s, fakeHost(false)); !errdefs.IsInvalidParameter(err) {
		t.Errorf("missing device: %v", err)
	}
}

func TestConfigLxcConfAppendedLastAndReplacesDefaultNet(t *testing.T) {
	s := baseSpec()
	s.LxcConf = [][2]string{{"lxc.utsname", "docker"}, {"lxc.network.type", "veth"}, {"lxc.network.link", "br0"}}
	c := mustConfig(t, s, fakeHost(false))
	if !strings.HasSuffix(c, "lxc.uts.name = docker\nlxc.net.0.type = veth\nlxc.net.0.link = br0\n") {
		t.Errorf("LxcConf not appended last, translated:\n%s", c)
	}
	if strings.Contains(c, "lxc.net.0.type = empty") {
		t.Errorf("default network kept beside the operator's:\n%s", c)
	}
	s.LxcConf = [][2]string{{"lxc.bogus", "1"}}
	if _, err := Config(s, fakeHost(false)); !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "lxc.bogus") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestConfigUserNamesNotYet(t *testing.T) {
	s := baseSpec()
	s.Process.User = "nobody"
	if _, err := Config(s, fakeHost(false)); !errdefs.IsNotImplemented(err) {
		t.Errorf("user name: %v, want NotImplemented", err)
	}
}

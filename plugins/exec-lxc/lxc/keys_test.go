package lxc

import (
	"slices"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/errdefs"
)

func TestLxcConfKeyDocker17Rule(t *testing.T) {
	for in, want := range map[string]string{
		"lxc.utsname":           "lxc.utsname",
		"lxc.cgroup.cpu.shares": "lxc.cgroup.cpu.shares",
		"foo.cgroup.cpu.shares": "lxc.cgroup.cpu.shares", // first segment replaced, whatever it is
		" lxc.tty":              "lxc.tty",
		"lxc.network.ipv4":      "lxc.network.ipv4",
		"x.y":                   "lxc.y",
	} {
		got, err := LxcConfKey(in)
		if err != nil || got != want {
			t.Errorf("LxcConfKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"utsname", "", "lxc.", "lxc"} {
		if _, err := LxcConfKey(bad); !errdefs.IsInvalidParameter(err) {
			t.Errorf("LxcConfKey(%q) = %v, want InvalidParameter", bad, err)
		}
	}
}

func TestTranslateLegacyKeys(t *testing.T) {
	for in, want := range map[string]string{
		"lxc.utsname":             "lxc.uts.name",
		"lxc.rootfs":              "lxc.rootfs.path",
		"lxc.tty":                 "lxc.tty.max",
		"lxc.pts":                 "lxc.pty.max",
		"lxc.id_map":              "lxc.idmap",
		"lxc.aa_profile":          "lxc.apparmor.profile",
		"lxc.aa_allow_incomplete": "lxc.apparmor.allow_incomplete",
		"lxc.se_context":          "lxc.selinux.context",
		"lxc.devttydir":           "lxc.tty.dir",
		"lxc.mount":               "lxc.mount.fstab",
		"lxc.seccomp":             "lxc.seccomp.profile",
		"lxc.console":             "lxc.console.path",
		"lxc.haltsignal":          "lxc.signal.halt",
		"lxc.stopsignal":          "lxc.signal.stop",
		"lxc.rebootsignal":        "lxc.signal.reboot",
		"lxc.loglevel":            "lxc.log.level",
		"lxc.logfile":             "lxc.log.file",
		"lxc.syslog":              "lxc.log.syslog",
		"lxc.init_cmd":            "lxc.init.cmd",
		"lxc.init_uid":            "lxc.init.uid",
		"lxc.init_gid":            "lxc.init.gid",
		"lxc.limit.nofile":        "lxc.prlimit.nofile",
		"lxc.network":             "lxc.net",
		"lxc.network.2.link":      "lxc.net.2.link",
		"lxc.network.1.ipv4":      "lxc.net.1.ipv4.address",
		"lxc.network.1":           "lxc.net.1",
		// Unchanged keys pass through.
		"lxc.cgroup.memory.limit_in_bytes": "lxc.cgroup.memory.limit_in_bytes",
		"lxc.cap.drop":                     "lxc.cap.drop",
		"lxc.uts.name":                     "lxc.uts.name",
		"lxc.mount.entry":                  "lxc.mount.entry",
	} {
		got, err := TranslateLxcConf([][2]string{{in, "v"}})
		if err != nil || len(got) != 1 || got[0][0] != want {
			t.Errorf("TranslateLxcConf(%q) = %v, %v; want %q", in, got, err, want)
		}
	}
}

func TestTranslateDropsRemovedKeys(t *testing.T) {
	got, err := TranslateLxcConf([][2]string{{"lxc.pivotdir", "lxc_putold"}, {"lxc.kmsg", "0"}, {"lxc.rootfs.backend", "dir"}, {"lxc.utsname", "docker"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]string{{"lxc.uts.name", "docker"}}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTranslateUnindexedNetworkAdvancesAtType(t *testing.T) {
	in := [][2]string{
		{"lxc.network.type", "veth"},
		{"lxc.network.link", "br0"},
		{"lxc.network.ipv4", "10.0.0.2/24"},
		{"lxc.network.ipv4.gateway", "10.0.0.1"},
		{"lxc.network.hwaddr", "02:42:ac:11:00:02"},
		{"lxc.network.type", "macvlan"},
		{"lxc.network.macvlan.mode", "bridge"},
		{"lxc.network.ipv6", "fd00::2/64"},
		{"lxc.network.veth.pair", "vethX"},
		{"lxc.network.flags", "up"},
	}
	want := [][2]string{
		{"lxc.net.0.type", "veth"},
		{"lxc.net.0.link", "br0"},
		{"lxc.net.0.ipv4.address", "10.0.0.2/24"},
		{"lxc.net.0.ipv4.gateway", "10.0.0.1"},
		{"lxc.net.0.hwaddr", "02:42:ac:11:00:02"},
		{"lxc.net.1.type", "macvlan"},
		{"lxc.net.1.macvlan.mode", "bridge"},
		{"lxc.net.1.ipv6.address", "fd00::2/64"},
		{"lxc.net.1.veth.pair", "vethX"},
		{"lxc.net.1.flags", "up"},
	}
	got, err := TranslateLxcConf(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

func TestTranslateNetworkKeyBeforeTypeIsRejected(t *testing.T) {
	_, err := TranslateLxcConf([][2]string{{"lxc.network.link", "br0"}})
	if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "lxc.network.link") {
		t.Errorf("err = %v, want InvalidParameter naming lxc.network.link", err)
	}
}

func TestTranslateUnknownKeyNamesIt(t *testing.T) {
	for _, k := range []string{"lxc.nosuchkey", "lxc.network.0.nosuch", "lxc.uts", "lxc.cgroup.", "lxc.net.x.type", "lxc.cap"} {
		_, err := TranslateLxcConf([][2]string{{"lxc.utsname", "ok"}, {k, "1"}})
		if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), k) {
			t.Errorf("%s: err = %v, want InvalidParameter naming the key", k, err)
		}
	}
}

func TestTranslateRejectsLineBreakInValue(t *testing.T) {
	// A newline would smuggle a second, unvalidated key into the file.
	_, err := TranslateLxcConf([][2]string{{"lxc.utsname", "a\nlxc.nosuch = 1"}})
	if !errdefs.IsInvalidParameter(err) {
		t.Errorf("err = %v, want InvalidParameter", err)
	}
}

func TestValidKeyFamilies(t *testing.T) {
	for _, k := range []string{
		"lxc.cgroup.cpuset.cpus", "lxc.cgroup2.memory.max", "lxc.prlimit.nofile",
		"lxc.sysctl.net.ipv4.ip_forward", "lxc.proc.oom_score_adj",
		"lxc.namespace.share.net", "lxc.net.0.type", "lxc.net.3.veth.ipv4.route", "lxc.net.0",
		"lxc.cgroup.dir", "lxc.rootfs.path",
	} {
		if !validKey(k) {
			t.Errorf("validKey(%q) = false", k)
		}
	}
}

func TestExitFromLog(t *testing.T) {
	log := []byte(`lxc-start c 20261123170540.548 NOTICE   start - ../src/lxc/start.c:post_start:2205 - Started "sh" with pid "9293"
lxc-start c 20261123170540.550 INFO     error - ../src/lxc/error.c:lxc_error_set_and_log:31 - Child <929> ended on error (5)
lxc-start c 20261123170540.550 INFO     error - ../src/lxc/error.c:lxc_error_set_and_log:31 - Child <9293> ended on error (42)
lxc-start d 20261123170540.550 INFO     error - ../src/lxc/error.c:lxc_error_set_and_log:35 - Child <77> ended on signal Killed(9)
`)
	for _, tc := range []struct {
		pid, code int
		found     bool
	}{{9293, 42, true}, {929, 5, true}, {77, 137, true}, {1, 0, false}} {
		if code, found := ExitFromLog(log, tc.pid); code != tc.code || found != tc.found {
			t.Errorf("ExitFromLog(%d) = %d, %v; want %d, %v", tc.pid, code, found, tc.code, tc.found)
		}
	}
}

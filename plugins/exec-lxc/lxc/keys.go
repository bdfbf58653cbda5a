package lxc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pluggd/pluggd/core/errdefs"
)

// LxcConfKey applies Docker 1.7's rule for HostConfig.LxcConf keys
// (daemon/execdriver/lxc/lxc_template.go, DOCKER17.md §3 item 9): the
// written key is "lxc." followed by the key minus its first dot-segment, so
// "lxc.utsname" stays "lxc.utsname" and "x.cgroup.cpu.shares" becomes
// "lxc.cgroup.cpu.shares". A key without a dot was rejected by Docker.
func LxcConfKey(key string) (string, error) {
	_, rest, ok := strings.Cut(strings.TrimSpace(key), ".")
	if !ok || rest == "" {
		return "", errdefs.InvalidParameter(fmt.Errorf("invalid LxcConf key %q: it must have the form lxc.<key>", key))
	}
	return "lxc." + rest, nil
}

// legacyRenames are the LXC 1.x/2.0 keys LXC 2.1 renamed and 3.0 stopped
// accepting (DOCKER17.md §4, from lxc's confile.c and lxc-update-config).
// The network keys need state and are handled by keyTranslator.netKey.
var legacyRenames = map[string]string{
	"lxc.rootfs":              "lxc.rootfs.path",
	"lxc.id_map":              "lxc.idmap",
	"lxc.pts":                 "lxc.pty.max",
	"lxc.tty":                 "lxc.tty.max",
	"lxc.devttydir":           "lxc.tty.dir",
	"lxc.aa_profile":          "lxc.apparmor.profile",
	"lxc.aa_allow_incomplete": "lxc.apparmor.allow_incomplete",
	"lxc.se_context":          "lxc.selinux.context",
	"lxc.mount":               "lxc.mount.fstab",
	"lxc.utsname":             "lxc.uts.name",
	"lxc.seccomp":             "lxc.seccomp.profile",
	"lxc.console":             "lxc.console.path",
	"lxc.haltsignal":          "lxc.signal.halt",
	"lxc.rebootsignal":        "lxc.signal.reboot",
	"lxc.stopsignal":          "lxc.signal.stop",
	"lxc.syslog":              "lxc.log.syslog",
	"lxc.loglevel":            "lxc.log.level",
	"lxc.logfile":             "lxc.log.file",
	"lxc.init_cmd":            "lxc.init.cmd",
	"lxc.init_uid":            "lxc.init.uid",
	"lxc.init_gid":            "lxc.init.gid",
	"lxc.network":             "lxc.net",
	"lxc.rootfs.backend":      "", // deleted by lxc-update-config
	"lxc.pivotdir":            "", // removed in LXC 3.0; LXC 5 pivots without it
	"lxc.kmsg":                "", // removed in LXC 3.0
	"lxc.limit":               "lxc.prlimit",
}

// keyTranslator renames the keys of one configuration, in order: LXC 1.x's
// unindexed "lxc.network.<sub>" lines refer to the network opened by the
// latest "lxc.network.type", so the translation of a line depends on the
// lines before it.
type keyTranslator struct {
	// net is the index of the network the unindexed keys apply to; -1
	// before the first lxc.network.type.
	net int
}

func newKeyTranslator() *keyTranslator { return &keyTranslator{net: -1} }

// translate returns the LXC 5 name of key (already in "lxc." form), or ""
// when the key is to be dropped (a key LXC 5 removed without replacement).
// The result is not validated; see validKey.
func (t *keyTranslator) translate(key string) (string, error) {
	if sub, ok := strings.CutPrefix(key, "lxc.network."); ok {
		return t.netKey(key, sub)
	}
	if res, ok := strings.CutPrefix(key, "lxc.limit."); ok {
		return "lxc.prlimit." + res, nil
	}
	if n, ok := legacyRenames[key]; ok {
		return n, nil
	}
	return key, nil
}

// netKey translates "lxc.network.<sub>" (sub is what follows the prefix):
// "N.<sub>" keeps its index, an unindexed sub takes the current one, and
// "type" opens the next network first (lxc-update-config's rule).
func (t *keyTranslator) netKey(key, sub string) (string, error) {
	idx := -1
	if head, rest, ok := strings.Cut(sub, "."); ok {
		if n, err := strconv.Atoi(head); err == nil && n >= 0 {
			idx, sub = n, rest
		}
	} else if n, err := strconv.Atoi(sub); err == nil && n >= 0 {
		return fmt.Sprintf("lxc.net.%d", n), nil
	}
	if idx < 0 {
		if sub == "type" {
			t.net++
		}
		if t.net < 0 {
			return "", errdefs.InvalidParameter(fmt.Errorf("LXC config key %q comes before any lxc.network.type, so it names no network", key))
		}
		idx = t.net
	}
	switch sub {
	case "ipv4", "ipv6":
		// LXC 4.0 split the address from the gateway key.
		sub += ".address"
	}
	return fmt.Sprintf("lxc.net.%d.%s", idx, sub), nil
}

// TranslateLxcConf turns Docker's HostConfig.LxcConf pairs into LXC 5
// configuration lines, in order: Docker 1.7's key rule, then LXC 1.x →
// LXC 5 renames, then validation against the keys LXC 5 knows. A key LXC 5
// does not know is an InvalidParameter error naming it as the client wrote
// it. Keys LXC 5 removed without replacement (lxc.pivotdir, lxc.kmsg) are
// dropped: they asked for what LXC 5 does anyway.
func TranslateLxcConf(pairs [][2]string) ([][2]string, error) {
	t := newKeyTranslator()
	var out [][2]string
	for _, p := range pairs {
		k, err := LxcConfKey(p[0])
		if err != nil {
			return nil, err
		}
		n, err := t.translate(k)
		if err != nil {
			return nil, err
		}
		if n == "" {
			continue
		}
		if !validKey(n) {
			if n != k {
				return nil, errdefs.InvalidParameter(fmt.Errorf("unknown LXC config key %q (read as %q, which LXC 5 does not know)", p[0], n))
			}
			return nil, errdefs.InvalidParameter(fmt.Errorf("unknown LXC config key %q", p[0]))
		}
		if strings.ContainsAny(p[1], "\n\r") {
			return nil, errdefs.InvalidParameter(fmt.Errorf("LXC config value for %q contains a line break", p[0]))
		}
		out = append(out, [2]string{n, strings.TrimSpace(p[1])})
	}
	return out, nil
}

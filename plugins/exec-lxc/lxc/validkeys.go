package lxc

import (
	"strconv"
	"strings"
)

// lxc5Keys are the container configuration keys LXC 5 accepts. Source: the
// config table of liblxc 5.0.2 (Debian 12's lxc 1:5.0.2; the "lxc.*"
// strings of liblxc.so.1, cross-checked with lxc.container.conf(5)). A
// static table, rather than asking the installed LXC, keeps the check
// pure, so a bad key fails at Create on any host and the unit tests run
// without LXC; LXC itself still has the last word when lxc-start parses
// the file.
var lxc5Keys = map[string]bool{
	"lxc.apparmor.profile": true, "lxc.apparmor.allow_incomplete": true,
	"lxc.apparmor.allow_nesting": true, "lxc.apparmor.raw": true,
	"lxc.arch": true, "lxc.autodev": true, "lxc.autodev.tmpfs.size": true,
	"lxc.cap.drop": true, "lxc.cap.keep": true,
	"lxc.cgroup.dir": true, "lxc.cgroup.dir.container": true,
	"lxc.cgroup.dir.container.inner": true, "lxc.cgroup.dir.monitor": true,
	"lxc.cgroup.dir.monitor.pivot": true, "lxc.cgroup.relative": true,
	"lxc.console.buffer.size": true, "lxc.console.logfile": true,
	"lxc.console.path": true, "lxc.console.rotate": true, "lxc.console.size": true,
	"lxc.environment": true, "lxc.ephemeral": true, "lxc.execute.cmd": true,
	"lxc.group":        true,
	"lxc.hook.autodev": true, "lxc.hook.clone": true, "lxc.hook.destroy": true,
	"lxc.hook.mount": true, "lxc.hook.post-stop": true, "lxc.hook.pre-mount": true,
	"lxc.hook.pre-start": true, "lxc.hook.start": true, "lxc.hook.start-host": true,
	"lxc.hook.stop": true, "lxc.hook.version": true,
	"lxc.idmap": true, "lxc.include": true,
	"lxc.init.cmd": true, "lxc.init.cwd": true, "lxc.init.gid": true,
	"lxc.init.groups": true, "lxc.init.uid": true,
	"lxc.keyring.session": true,
	"lxc.log.file":        true, "lxc.log.level": true, "lxc.log.syslog": true,
	"lxc.monitor.signal.pdeath": true, "lxc.monitor.unshare": true,
	"lxc.mount.auto": true, "lxc.mount.entry": true, "lxc.mount.fstab": true,
	"lxc.namespace.clone": true, "lxc.namespace.keep": true,
	"lxc.net": true, "lxc.no_new_privs": true, "lxc.pty.max": true,
	"lxc.rootfs.managed": true, "lxc.rootfs.mount": true,
	"lxc.rootfs.options": true, "lxc.rootfs.path": true,
	"lxc.sched.core":            true,
	"lxc.seccomp.allow_nesting": true, "lxc.seccomp.notify.cookie": true,
	"lxc.seccomp.notify.proxy": true, "lxc.seccomp.profile": true,
	"lxc.selinux.context": true, "lxc.selinux.context.keyring": true,
	"lxc.signal.halt": true, "lxc.signal.reboot": true, "lxc.signal.stop": true,
	"lxc.start.auto": true, "lxc.start.delay": true, "lxc.start.order": true,
	"lxc.time.offset.boot": true, "lxc.time.offset.monotonic": true,
	"lxc.tty.dir": true, "lxc.tty.max": true, "lxc.uts.name": true,
}

// lxc5Prefixes are the key families LXC 5 passes on to the kernel or a
// sub-parser (a cgroup file, an rlimit, a sysctl, a /proc file, a
// namespace to share): any non-empty suffix is accepted here, as LXC
// accepts it when parsing; a bad one fails when the container starts.
var lxc5Prefixes = []string{
	"lxc.cgroup.", "lxc.cgroup2.", "lxc.prlimit.", "lxc.sysctl.", "lxc.proc.",
	"lxc.namespace.share.",
}

// lxc5NetKeys are the per-network keys, after "lxc.net.<i>." (from
// lxc.container.conf(5) of LXC 5.0.2).
var lxc5NetKeys = map[string]bool{
	"type": true, "flags": true, "link": true, "l2proxy": true, "name": true,
	"hwaddr": true, "mtu": true, "vlan.id": true,
	"veth.mode": true, "veth.pair": true, "veth.ipv4.route": true,
	"veth.ipv6.route": true, "veth.vlan.id": true, "veth.vlan.tagged.id": true,
	"macvlan.mode": true, "ipvlan.mode": true, "ipvlan.isolation": true,
	"script.up": true, "script.down": true,
	"ipv4.address": true, "ipv4.gateway": true,
	"ipv6.address": true, "ipv6.gateway": true,
}

// validKey reports whether LXC 5 knows key.
func validKey(key string) bool {
	if lxc5Keys[key] {
		return true
	}
	// lxc.cgroup.dir* are in lxc5Keys; other lxc.cgroup.<x> are files.
	for _, p := range lxc5Prefixes {
		if rest, ok := strings.CutPrefix(key, p); ok && rest != "" {
			return true
		}
	}
	if rest, ok := strings.CutPrefix(key, "lxc.net."); ok {
		head, sub, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(head); err != nil || n < 0 {
			return false
		}
		// "lxc.net.<i>" alone clears that network.
		return sub == "" || lxc5NetKeys[sub]
	}
	return false
}

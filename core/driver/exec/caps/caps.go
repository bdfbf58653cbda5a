// Package caps holds Docker 1.7's capability rules for execution drivers
// (an SDK helper, like the supervisor package): the 14 default
// capabilities and how HostConfig's CapAdd and CapDrop change them
// (execdriver.TweakCapabilities). Drivers spell the result their way
// (libcontainer wants "CAP_CHOWN", LXC "chown").
package caps

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Defaults returns Docker 1.7's 14 default capabilities (the native
// template, which its lxc driver reused), upper case without "CAP_", in
// Docker's order.
func Defaults() []string {
	return []string{
		"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW",
		"SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
		"SYS_CHROOT", "KILL", "AUDIT_WRITE",
	}
}

// Parse reads a CapAdd or CapDrop list as Docker 1.7 did: names with or
// without "CAP_", case-insensitive, "all" for every capability. It returns
// the names upper case without "CAP_", and whether "all" was given. A name
// that is no capability at all is an InvalidParameter error; what says
// which list it came from ("to add", "to drop").
func Parse(list []string, what string) (names []string, all bool, err error) {
	for _, n := range list {
		u := strings.TrimPrefix(strings.ToUpper(n), "CAP_")
		if u == "ALL" {
			all = true
			continue
		}
		if !Known(u) {
			return nil, false, errdefs.InvalidParameter(fmt.Errorf("unknown capability %s: %q", what, n))
		}
		names = append(names, u)
	}
	return names, all, nil
}

// Known reports whether name (upper case, no "CAP_") is a capability
// name; one the kernel does not support but the library knows is accepted,
// as Docker accepted any name in its table.
func Known(name string) bool {
	return slices.ContainsFunc(capability.ListKnown(), func(c capability.Cap) bool {
		return strings.ToUpper(c.String()) == name
	})
}

// Tweak applies parsed lists to base: without dropAll, base less drops;
// then adds appended, so a capability both added and dropped is kept.
func Tweak(base, adds, drops []string, dropAll bool) []string {
	var out []string
	if !dropAll {
		for _, c := range base {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
	}
	for _, c := range adds {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

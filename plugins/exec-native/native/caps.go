package native

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"

	"github.com/pluggd/pluggd/core/errdefs"
)

// defaultCaps are Docker 1.7's 14 default capabilities
// (daemon/execdriver/native/template), in its order.
var defaultCaps = []string{
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW",
	"SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
	"SYS_CHROOT", "KILL", "AUDIT_WRITE",
}

// allCaps is every capability this process can hand on, by name without
// "CAP_": those the kernel supports and that are in our own bounding set.
// Docker 1.7's "all" meant every capability it knew; a capability outside
// the daemon's bounding set cannot be granted (the container's init would
// fail with EPERM), so "all" means what the host gives us, as later
// Docker has it.
func allCaps() ([]string, error) {
	list, err := capability.ListSupported()
	if err != nil {
		return nil, fmt.Errorf("list capabilities: %w", err)
	}
	self, err := capability.NewPid2(0)
	if err == nil {
		err = self.Load()
	}
	if err != nil {
		return nil, fmt.Errorf("read own capabilities: %w", err)
	}
	var names []string
	for _, c := range list {
		if self.Get(capability.BOUNDING, c) {
			names = append(names, strings.ToUpper(c.String()))
		}
	}
	return names, nil
}

// knownCap reports whether name (upper case, no "CAP_") is a capability
// name at all; a name the kernel does not support but the library knows is
// accepted, as Docker accepted any name in its table.
func knownCap(name string) bool {
	for _, c := range capability.ListKnown() {
		if strings.ToUpper(c.String()) == name {
			return true
		}
	}
	return false
}

// tweakCaps applies CapAdd and CapDrop to Docker's default set the way
// Docker 1.7's execdriver.TweakCapabilities did: names without "CAP_",
// case-insensitive, "all" allowed in either list; CapAdd "all" widens the
// base to every capability, drops are removed from the base, and adds are
// appended afterwards, so a capability both added and dropped is kept. An
// unknown name is an InvalidParameter error. The result has "CAP_" names,
// as libcontainer wants them.
func tweakCaps(add, drop []string) ([]string, error) {
	norm := func(list []string, what string) ([]string, bool, error) {
		var out []string
		all := false
		for _, n := range list {
			u := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(n), "CAP_"))
			if u == "ALL" {
				all = true
				continue
			}
			if !knownCap(u) {
				return nil, false, errdefs.InvalidParameter(fmt.Errorf("unknown capability %s: %q", what, n))
			}
			out = append(out, u)
		}
		return out, all, nil
	}
	adds, addAll, err := norm(add, "to add")
	if err != nil {
		return nil, err
	}
	drops, dropAll, err := norm(drop, "to drop")
	if err != nil {
		return nil, err
	}

	base := slices.Clone(defaultCaps)
	if addAll {
		if base, err = allCaps(); err != nil {
			return nil, err
		}
	}
	var caps []string
	if !dropAll {
		for _, c := range base {
			if !slices.Contains(drops, c) {
				caps = append(caps, c)
			}
		}
	}
	for _, c := range adds {
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = "CAP_" + c
	}
	return out, nil
}

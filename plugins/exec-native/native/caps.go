package native

import (
	"fmt"
	"strings"

	"github.com/pluggd/pluggd/core/driver/exec/caps"

	"github.com/moby/sys/capability"
)

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

// tweakCaps applies CapAdd and CapDrop to Docker's default set the way
// Docker 1.7's execdriver.TweakCapabilities did: names without "CAP_",
// case-insensitive, "all" allowed in either list; CapAdd "all" widens the
// base to every capability, drops are removed from the base, and adds are
// appended afterwards, so a capability both added and dropped is kept. An
// unknown name is an InvalidParameter error. The result has "CAP_" names,
// as libcontainer wants them.
func tweakCaps(add, drop []string) ([]string, error) {
	adds, addAll, err := caps.Parse(add, "to add")
	if err != nil {
		return nil, err
	}
	drops, dropAll, err := caps.Parse(drop, "to drop")
	if err != nil {
		return nil, err
	}
	base := caps.Defaults()
	if addAll {
		if base, err = allCaps(); err != nil {
			return nil, err
		}
	}
	kept := caps.Tweak(base, adds, drops, dropAll)
	out := make([]string, len(kept))
	for i, c := range kept {
		out[i] = "CAP_" + c
	}
	return out, nil
}

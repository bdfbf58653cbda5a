package native

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/cgroups"
)

// checkHost says why this host cannot run containers with this driver, or
// nil: the daemon then runs without it rather than failing each Create.
func checkHost() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	if !cgroups.IsCgroup2UnifiedMode() {
		// cgroup v1 (or hybrid): libcontainer's fs manager refuses to
		// run without the devices controller, and the driver needs
		// memory (limits, OOM) and freezer (pause).
		for _, ss := range []string{"devices", "memory", "freezer", "cpu", "cpuacct"} {
			if _, err := cgroups.FindCgroupMountpoint("", ss); err != nil {
				return fmt.Errorf("cgroup v1 controller %q is not mounted: %w", ss, err)
			}
		}
	} else if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		return fmt.Errorf("cgroup v2 is not usable: %w", err)
	}
	for _, ns := range []string{"mnt", "uts", "ipc", "pid", "net"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			return fmt.Errorf("kernel lacks %s namespaces: %w", ns, err)
		}
	}
	return nil
}

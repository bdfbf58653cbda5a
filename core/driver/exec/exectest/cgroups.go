package exectest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pluggd/pluggd/core/driver/exec"
)

// checkCgroupsRemoved: the container's cgroups are made under
// CgroupParent, and removed with the container. The suite learns their
// paths from /proc/<init>/cgroup, the kernel's word, and assumes no
// layout beyond the contract's "<parent>/...".
func checkCgroupsRemoved(h *harness) {
	spec := h.spec("sleep", "1000")
	st, parent, dirs := h.runInOwnCgroupParent(spec)
	if len(dirs) == 0 {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/cgroup")
		h.t.Fatalf("the container's init is in no cgroup under CgroupParent %q:\n%s", parent, b)
	}
	h.signal(spec.ID, syscall.SIGKILL)
	h.wait(st.Supervisor)
	h.waitStopped(spec.ID)
	h.delete(spec.ID)
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			h.t.Errorf("cgroup %s is left after Delete", d)
		}
	}
}

// runInOwnCgroupParent runs spec under a CgroupParent of the check's own
// and returns its state, the parent's name and the container's cgroup
// directories; the parent is removed in the cleanup.
func (h *harness) runInOwnCgroupParent(spec exec.ContainerSpec) (exec.State, string, []string) {
	h.t.Helper()
	parent := "exectest-" + newID()[:8]
	spec.CgroupParent = parent
	st := h.run(spec)
	dirs := cgroupDirs(h, st.Pid, parent)
	h.t.Cleanup(func() {
		// The parents are the suite's: remove them, deepest last made
		// first, if the driver left them (Docker left its "docker").
		for _, d := range dirs {
			if i := strings.LastIndex(d, "/"+parent+"/"); i >= 0 {
				syscall.Rmdir(d[:i+1+len(parent)])
			}
		}
	})
	return st, parent, dirs
}

// cgroupDirs returns the directories of process pid's cgroups whose path
// has parent as a component, in every mounted hierarchy.
func cgroupDirs(h *harness, pid int, parent string) []string {
	h.t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		h.t.Fatalf("reading the init's cgroups: %v", err)
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-ID:controller-list:cgroup-path (cgroups(7))
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.Contains(f[2]+"/", "/"+parent+"/") {
			continue
		}
		var mount string
		switch {
		case f[0] == "0" && f[1] == "":
			mount = "/sys/fs/cgroup/unified" // hybrid; v2 alone is /sys/fs/cgroup
			if _, err := os.Stat(mount); err != nil {
				mount = "/sys/fs/cgroup"
			}
		default:
			mount = "/sys/fs/cgroup/" + strings.TrimPrefix(f[1], "name=")
		}
		d := filepath.Join(mount, f[2])
		if _, err := os.Stat(d); err != nil {
			h.t.Logf("cgroup %s of the init: %v (hierarchy not mounted there?)", line, err)
			continue
		}
		dirs = append(dirs, d)
	}
	return dirs
}

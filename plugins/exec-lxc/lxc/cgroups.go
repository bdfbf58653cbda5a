package lxc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Pause, Resume and Stats act on the container's cgroups directly, with
// the cgroup library the native driver's libcontainer uses, rather than
// through lxc-freeze or lxc-info: those talk to LXC's monitor over its
// command socket, and the cgroups are where the truth is (they are also
// what the kernel freezes). Config names the container's cgroup
// <parent>/<id> in every hierarchy (lxc.cgroup.dir.container).

// cgroupManager returns a manager of container spec's existing cgroups; it
// never creates or removes them.
func cgroupManager(spec exec.ContainerSpec) (cgroups.Manager, error) {
	parent := strings.Trim(spec.CgroupParent, "/")
	if parent == "" {
		parent = defaultCgroupParent
	}
	return manager.New(&cgroups.Cgroup{
		Path:      "/" + parent + "/" + spec.ID,
		Resources: &cgroups.Resources{},
	})
}

// paused reports whether the container's freezer says frozen.
func paused(spec exec.ContainerSpec) bool {
	m, err := cgroupManager(spec)
	if err != nil {
		return false
	}
	s, err := m.GetFreezerState()
	return err == nil && s == cgroups.Frozen
}

// running returns the container's spec when it is running (or paused),
// else a Conflict.
func (d *Driver) running(ctx context.Context, id string) (exec.ContainerSpec, exec.State, error) {
	dir, spec, err := d.dirs.Lookup(id)
	if err != nil {
		return spec, exec.State{}, err
	}
	st, err := d.state(dir, spec)
	if err != nil {
		return spec, st, err
	}
	if st.Status != exec.StatusRunning && st.Status != exec.StatusPaused {
		return spec, st, errdefs.Conflict(fmt.Errorf("container %s is %s, not running", id, st.Status))
	}
	return spec, st, nil
}

// Pause freezes the container's cgroup (the freezer controller on cgroup
// v1, cgroup.freeze on v2). LXC's monitor lives in a sibling cgroup and
// keeps running.
func (d *Driver) Pause(ctx context.Context, id string) error {
	spec, st, err := d.running(ctx, id)
	if err != nil {
		return err
	}
	if st.Status == exec.StatusPaused {
		return errdefs.Conflict(fmt.Errorf("container %s is already paused", id))
	}
	m, err := cgroupManager(spec)
	if err != nil {
		return err
	}
	// The v1 freezer gives up ("unable to freeze") when the tasks do not
	// all stop within its own short loop, which happens on a busy host
	// while the container forks; the cgroup is thawed again then, so
	// trying anew is safe.
	for attempt := range 5 {
		if err = m.Freeze(cgroups.Frozen); err == nil || !strings.Contains(err.Error(), "unable to freeze") {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return err
}

// Resume thaws the container's cgroup.
func (d *Driver) Resume(ctx context.Context, id string) error {
	spec, st, err := d.running(ctx, id)
	if err != nil {
		return err
	}
	if st.Status != exec.StatusPaused {
		return errdefs.Conflict(fmt.Errorf("container %s is not paused", id))
	}
	m, err := cgroupManager(spec)
	if err != nil {
		return err
	}
	return m.Freeze(cgroups.Thawed)
}

// thawAfterKill lets a SIGKILL sent to a frozen container act: on cgroup
// v1 a frozen task dies only once thawed (libcontainer does the same).
func thawAfterKill(spec exec.ContainerSpec, sig syscall.Signal) {
	if sig != syscall.SIGKILL || !paused(spec) {
		return
	}
	if m, err := cgroupManager(spec); err == nil {
		m.Freeze(cgroups.Thawed)
	}
}

// Stats samples the container's cgroups.
func (d *Driver) Stats(ctx context.Context, id string) (exec.Stats, error) {
	spec, _, err := d.running(ctx, id)
	if err != nil {
		return exec.Stats{}, err
	}
	m, err := cgroupManager(spec)
	if err != nil {
		return exec.Stats{}, err
	}
	s, err := m.GetStats()
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return exec.Stats{}, errdefs.Conflict(fmt.Errorf("container %s is not running", id))
		}
		return exec.Stats{}, err
	}
	return exec.Stats{
		Read:        time.Now(),
		CPUTotal:    s.CpuStats.CpuUsage.TotalUsage,
		MemoryUsage: s.MemoryStats.Usage.Usage,
		MemoryLimit: s.MemoryStats.Usage.Limit,
		Pids:        s.PidsStats.Current,
	}, nil
}

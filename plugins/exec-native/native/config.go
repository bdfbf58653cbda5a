package native

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/devices"
	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// defaultCgroupParent is Docker 1.7's: containers' cgroups are
// <parent>/<id>, relative to the supervisor's own cgroup in each hierarchy
// (libcontainer's fs manager resolves a relative path that way, as Docker
// 1.7's libcontainer did relative to the daemon's cgroup).
const defaultCgroupParent = "docker"

// maskedPaths are bound over with /dev/null (files) or an empty read-only
// tmpfs (directories). The first three are Docker 1.7's; the rest are what
// later Docker masks, for files that leak host information and did not
// exist or were not known then. Paths the kernel lacks are skipped by
// libcontainer.
var maskedPaths = []string{
	"/proc/kcore", "/proc/latency_stats", "/proc/timer_stats",
	"/proc/acpi", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// readonlyPaths are Docker 1.7's read-only /proc paths.
var readonlyPaths = []string{
	"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
	"/proc/sysrq-trigger",
}

// docker17ExtraDeviceRules are Docker 1.7's DefaultAllowedDevices that
// libcontainer's own default list (specconv.AllowedDevices) no longer
// has: the console and the first two virtual terminals.
var docker17ExtraDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(4), Minor: i64(0), Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(4), Minor: i64(1), Access: "rwm"},
}

func i64(v int64) *int64 { return &v }

// defaultMounts are Docker 1.7's native template mounts, in order.
func defaultMounts(privileged, sharedIPC bool) []specs.Mount {
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	if privileged {
		sysOpts = sysOpts[:3]
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	}
	// A new mqueue instance belongs to the mounter's IPC namespace: with
	// the host's (or another container's) IPC namespace it would expose
	// that namespace's queues under a fresh mount the kernel refuses
	// outside it, so it is left out (as later Docker does).
	if !sharedIPC {
		ms = append(ms, specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}})
	}
	return append(ms, specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts})
}

// namespaceKinds maps the contract's namespace kinds to the OCI spec's.
var namespaceKinds = map[string]specs.LinuxNamespaceType{
	"net": specs.NetworkNamespace,
	"ipc": specs.IPCNamespace,
	"pid": specs.PIDNamespace,
	"uts": specs.UTSNamespace,
}

// hostInfo is what the config depends on about the host, probed once by
// the driver and handed to the supervisor in container.json, so both
// translate the spec alike.
type hostInfo struct {
	// SwapAccounting: the memory cgroup has memory.memsw.* (v1) or
	// memory.swap.* (v2) files.
	SwapAccounting bool `json:"swap_accounting"`
	// BlkioWeight: the kernel's I/O scheduler takes cgroup weights
	// (blkio.weight or blkio.bfq.weight on v1, io.weight or io.bfq.weight
	// on v2).
	BlkioWeight bool `json:"blkio_weight"`
}

// libcontainerConfig translates spec into libcontainer's configuration,
// through an OCI runtime spec so that libcontainer's own converter parses
// mount options, devices and cgroup rules as runc does. Errors in the
// spec are InvalidParameter.
func libcontainerConfig(spec exec.ContainerSpec, host hostInfo) (*configs.Config, error) {
	if spec.ID == "" {
		return nil, errdefs.InvalidParameter(fmt.Errorf("container id is empty"))
	}
	if !filepath.IsAbs(spec.Rootfs) {
		return nil, errdefs.InvalidParameter(fmt.Errorf("rootfs %q is not an absolute path", spec.Rootfs))
	}
	if fi, err := os.Stat(spec.Rootfs); err != nil || !fi.IsDir() {
		return nil, errdefs.InvalidParameter(fmt.Errorf("rootfs %q is not a directory", spec.Rootfs))
	}

	caps, err := capsFor(spec)
	if err != nil {
		return nil, err
	}
	namespaces, shared, err := namespacesFor(spec.SharedNamespaces)
	if err != nil {
		return nil, err
	}
	mounts, err := mountsFor(spec, shared["ipc"])
	if err != nil {
		return nil, err
	}
	cgroupParent := spec.CgroupParent
	if cgroupParent == "" {
		cgroupParent = defaultCgroupParent
	}

	oci := &specs.Spec{
		Version:    specs.Version,
		Root:       &specs.Root{Path: spec.Rootfs, Readonly: spec.ReadonlyRootfs},
		Hostname:   spec.Hostname,
		Domainname: spec.Domainname,
		Mounts:     mounts,
		Process: &specs.Process{
			Capabilities: &specs.LinuxCapabilities{
				// Inheritable stays empty: Docker 1.7 filled it too,
				// which let a non-root program with file capabilities
				// gain them (CVE-2022-24769); no Docker since does.
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
		},
		Linux: &specs.Linux{
			Namespaces:  namespaces,
			CgroupsPath: path.Join(cgroupParent, spec.ID),
			Resources:   &specs.LinuxResources{},
		},
	}
	// The kernel refuses a hostname in a UTS namespace the container does
	// not own (libcontainer's validator says so too); Docker dropped it.
	if shared["uts"] {
		oci.Hostname, oci.Domainname = "", ""
	}
	if !spec.Privileged {
		oci.Linux.MaskedPaths = maskedPaths
		oci.Linux.ReadonlyPaths = readonlyPaths
	}
	if err := resourcesFor(oci.Linux.Resources, spec.Resources, host); err != nil {
		return nil, err
	}
	if err := devicesFor(oci.Linux, spec); err != nil {
		return nil, err
	}

	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName: spec.ID,
		Spec:       oci,
	})
	if err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	// specconv labels the config with its working directory as the
	// bundle; there is no bundle here.
	cfg.Labels = slices.DeleteFunc(cfg.Labels, func(l string) bool { return strings.HasPrefix(l, "bundle=") })
	// A killed supervisor takes its container with it: nothing may run
	// unsupervised (see core/driver/exec/supervisor).
	cfg.ParentDeathSignal = int(unix.SIGKILL)
	// Docker 1.7 did not set no_new_privs; setuid programs work inside.
	cfg.NoNewPrivileges = false
	if cfg.Rlimits, err = rlimitsFor(spec.Resources.Rlimits); err != nil {
		return nil, err
	}
	return cfg, nil
}

func capsFor(spec exec.ContainerSpec) ([]string, error) {
	if spec.Privileged {
		all, err := allCaps()
		if err != nil {
			return nil, err
		}
		caps := make([]string, len(all))
		for i, c := range all {
			caps[i] = "CAP_" + c
		}
		return caps, nil
	}
	return tweakCaps(spec.CapAdd, spec.CapDrop)
}

// namespacesFor returns the namespaces to create or join; shared names the
// kinds that are not the container's own.
func namespacesFor(sharedNS map[string]string) ([]specs.LinuxNamespace, map[string]bool, error) {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	shared := map[string]bool{}
	for kind := range sharedNS {
		if _, ok := namespaceKinds[kind]; !ok {
			return nil, nil, errdefs.InvalidParameter(fmt.Errorf("cannot share namespace %q: only net, ipc, pid and uts can be shared", kind))
		}
	}
	for _, kind := range []string{"uts", "ipc", "pid", "net"} {
		p, ok := sharedNS[kind]
		switch {
		case !ok:
			ns = append(ns, specs.LinuxNamespace{Type: namespaceKinds[kind]})
		case p == "host":
			shared[kind] = true
		case filepath.IsAbs(p):
			if _, err := os.Stat(p); err != nil {
				return nil, nil, errdefs.InvalidParameter(fmt.Errorf("%s namespace to join: %w", kind, err))
			}
			ns = append(ns, specs.LinuxNamespace{Type: namespaceKinds[kind], Path: p})
			shared[kind] = true
		default:
			return nil, nil, errdefs.InvalidParameter(fmt.Errorf("%s namespace: %q is neither \"host\" nor an absolute path", kind, p))
		}
	}
	return ns, shared, nil
}

// mountsFor is Docker 1.7's defaults with the user's mounts after them; a
// user mount at a default's destination, or above it, replaces that
// default (a user /dev drops /dev/pts, /dev/shm and /dev/mqueue too).
func mountsFor(spec exec.ContainerSpec, sharedIPC bool) ([]specs.Mount, error) {
	var user []specs.Mount
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return nil, errdefs.InvalidParameter(fmt.Errorf("mount destination %q is not an absolute path", m.Destination))
		}
		om := specs.Mount{
			Destination: filepath.Clean(m.Destination),
			Type:        m.Type,
			Source:      m.Source,
			Options:     slices.Clone(m.Options),
		}
		if om.Type == "" || om.Type == "bind" {
			om.Type = "bind"
			if !slices.Contains(om.Options, "bind") && !slices.Contains(om.Options, "rbind") {
				om.Options = append(om.Options, "rbind")
			}
			if _, err := os.Stat(om.Source); err != nil {
				return nil, errdefs.InvalidParameter(fmt.Errorf("bind mount source: %w", err))
			}
		}
		user = append(user, om)
	}
	replaced := func(dst string) bool {
		for _, u := range user {
			if dst == u.Destination || strings.HasPrefix(dst, u.Destination+"/") {
				return true
			}
		}
		return false
	}
	var out []specs.Mount
	for _, d := range defaultMounts(spec.Privileged, sharedIPC) {
		if !replaced(d.Destination) {
			out = append(out, d)
		}
	}
	return append(out, user...), nil
}

func resourcesFor(r *specs.LinuxResources, res exec.Resources, host hostInfo) error {
	if res.Memory < 0 || res.CPUShares < 0 || res.CPUPeriod < 0 {
		return errdefs.InvalidParameter(fmt.Errorf("negative memory, cpu shares or cpu period"))
	}
	mem := &specs.LinuxMemory{}
	if res.Memory > 0 {
		mem.Limit = i64(res.Memory)
		swap := res.MemorySwap
		// Docker 1.7's libcontainer made memory+swap twice the memory
		// limit when none was asked for; without swap accounting there
		// is no such limit to set, as Docker then warned.
		if swap == 0 && host.SwapAccounting {
			swap = 2 * res.Memory
		}
		if swap != 0 {
			if swap > 0 && swap < res.Memory {
				return errdefs.InvalidParameter(fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, res.Memory))
			}
			mem.Swap = i64(swap)
		}
	} else if res.MemorySwap > 0 {
		return errdefs.InvalidParameter(fmt.Errorf("a memory+swap limit needs a memory limit"))
	}
	if res.OomKillDisable {
		t := true
		mem.DisableOOMKiller = &t
	}
	r.Memory = mem

	cpu := &specs.LinuxCPU{Cpus: res.CpusetCpus, Mems: res.CpusetMems}
	if res.CPUShares > 0 {
		s := uint64(res.CPUShares)
		cpu.Shares = &s
	}
	if res.CPUPeriod > 0 {
		p := uint64(res.CPUPeriod)
		cpu.Period = &p
	}
	if res.CPUQuota != 0 {
		cpu.Quota = i64(res.CPUQuota)
	}
	r.CPU = cpu
	if res.BlkioWeight != 0 {
		if !host.BlkioWeight {
			// Docker 1.7 failed at start with the cgroup write error;
			// say why instead.
			return errdefs.InvalidParameter(errors.New("the kernel's I/O scheduler does not support block I/O weights (no blkio.weight): cannot set BlkioWeight"))
		}
		if res.BlkioWeight < 10 || res.BlkioWeight > 1000 {
			return errdefs.InvalidParameter(fmt.Errorf("blkio weight %d is outside 10..1000", res.BlkioWeight))
		}
		w := res.BlkioWeight
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return nil
}

// devicesFor sets the device cgroup rules and the device nodes made in the
// container's /dev. specconv appends libcontainer's defaults (Docker 1.7's
// list less console and tty0/tty1, which are added here) after these rules
// and creates the default nodes.
func devicesFor(l *specs.Linux, spec exec.ContainerSpec) error {
	r := l.Resources
	if spec.Privileged {
		// --privileged: every device allowed, every host node created.
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		host, err := devices.HostDevices()
		if err != nil {
			return fmt.Errorf("list host devices: %w", err)
		}
		for _, d := range host {
			l.Devices = append(l.Devices, ociDevice(d, d.Path))
		}
	} else {
		r.Devices = append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, docker17ExtraDeviceRules...)
	}
	for _, d := range spec.Devices {
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		hd, err := devices.DeviceFromPath(d.PathOnHost, perms)
		if err != nil {
			return errdefs.InvalidParameter(fmt.Errorf("device %q: %w", d.PathOnHost, err))
		}
		dst := d.PathInContainer
		if dst == "" {
			dst = d.PathOnHost
		}
		// --device replaces a node already listed at the same path.
		l.Devices = slices.DeleteFunc(l.Devices, func(o specs.LinuxDevice) bool { return o.Path == dst })
		l.Devices = append(l.Devices, ociDevice(hd, dst))
		if !spec.Privileged {
			r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{
				Allow: true, Type: string(hd.Type), Major: i64(hd.Major), Minor: i64(hd.Minor), Access: perms,
			})
		}
	}
	return nil
}

func ociDevice(d *devconfig.Device, dst string) specs.LinuxDevice {
	mode := d.FileMode
	uid, gid := d.Uid, d.Gid
	return specs.LinuxDevice{
		Path: dst, Type: string(d.Type), Major: d.Major, Minor: d.Minor,
		FileMode: &mode, UID: &uid, GID: &gid,
	}
}

// rlimitTypes are Docker's --ulimit names.
var rlimitTypes = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU,
	"data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS,
	"memlock": unix.RLIMIT_MEMLOCK, "msgqueue": unix.RLIMIT_MSGQUEUE,
	"nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC,
	"rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// rlimitsFor converts the requested rlimits; none requested means the
// container inherits the supervisor's (the daemon's) limits.
func rlimitsFor(rls []exec.Rlimit) ([]configs.Rlimit, error) {
	var out []configs.Rlimit
	for _, rl := range rls {
		t, ok := rlimitTypes[strings.ToLower(rl.Type)]
		if !ok {
			return nil, errdefs.InvalidParameter(fmt.Errorf("unknown rlimit type %q", rl.Type))
		}
		if rl.Soft > rl.Hard {
			return nil, errdefs.InvalidParameter(fmt.Errorf("rlimit %s: soft limit %d is above hard limit %d", rl.Type, rl.Soft, rl.Hard))
		}
		out = append(out, configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft})
	}
	return out, nil
}

// probeHost reports what the config depends on.
func probeHost() hostInfo {
	var h hostInfo
	if cgroups.IsCgroup2UnifiedMode() {
		h.SwapAccounting = fileExists("/sys/fs/cgroup/memory.swap.max") || anyChildHas("/sys/fs/cgroup", "memory.swap.max")
		h.BlkioWeight = anyChildHas("/sys/fs/cgroup", "io.weight") || anyChildHas("/sys/fs/cgroup", "io.bfq.weight")
		return h
	}
	if mnt, err := cgroups.FindCgroupMountpoint("", "memory"); err == nil {
		h.SwapAccounting = fileExists(filepath.Join(mnt, "memory.memsw.limit_in_bytes"))
	}
	if mnt, err := cgroups.FindCgroupMountpoint("", "blkio"); err == nil {
		h.BlkioWeight = fileExists(filepath.Join(mnt, "blkio.weight")) || fileExists(filepath.Join(mnt, "blkio.bfq.weight"))
	}
	return h
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// anyChildHas: on cgroup v2 the root cgroup has no memory.swap.max, its
// children do when swap accounting is on.
func anyChildHas(dir, file string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() && fileExists(filepath.Join(dir, e.Name(), file)) {
			return true
		}
	}
	return false
}

package lxc

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pluggd/pluggd/core/driver/exec/caps"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// defaultCgroupParent is Docker 1.7's, as exec-native uses it.
const defaultCgroupParent = "docker"

// defaultDeviceRules are Docker 1.7's DefaultAllowedDevices plus its
// DefaultAutoCreatedDevices but /dev/fuse (created, never allowed), as
// cgroup device rules.
var defaultDeviceRules = []string{
	"c *:* m", "b *:* m",
	"c 5:1 rwm", "c 4:0 rwm", "c 4:1 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm",
	"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:9 rwm", "c 1:8 rwm",
}

// Host is what config generation needs to know about the machine; the
// driver fills it in (hostInfo), tests make it up.
type Host struct {
	// CgroupV2 is true on a unified (cgroup v2 only) host: limits are
	// written as lxc.cgroup2.* then, since LXC ignores lxc.cgroup.* lines
	// without a v1 hierarchy.
	CgroupV2 bool
	// IsDir reports whether a mount source is a directory (create=dir) or
	// not (create=file).
	IsDir func(path string) bool
	// Device returns the cgroup rule type ('c' or 'b') and numbers of a
	// device node on the host.
	Device func(path string) (typ byte, major, minor uint32, err error)
	// NoAppArmorProfile is true where AppArmor is enabled but LXC's
	// default container profile is not loaded: LXC would then refuse to
	// start (or fail to enter the profile), so containers run unconfined,
	// as under the native driver, which applies no profile. Where
	// AppArmor is off LXC skips it, and where the profile is loaded it is
	// used (lxc.aa_profile / lxc.apparmor.profile in LxcConf still win).
	NoAppArmorProfile bool
}

// Config returns the LXC 5 configuration file for spec: the equivalent of
// Docker 1.7's lxc template (DOCKER17.md §3, "the config it writes") in
// LXC 5's key names, with spec.LxcConf translated and appended last so
// that, as in Docker, the operator's lines win over the generated ones.
func Config(spec exec.ContainerSpec, host Host) (string, error) {
	user, err := TranslateLxcConf(spec.LxcConf)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, v) }

	line("lxc.rootfs.path", "dir:"+spec.Rootfs)
	if spec.ReadonlyRootfs {
		line("lxc.rootfs.options", "ro")
	}
	// Docker wrote lxc.pts = 1024; LXC then mounts a private devpts
	// instance (newinstance, ptmxmode=0666) at /dev/pts itself, so no
	// devpts mount entry is written, unlike Docker's LXC 1.0 template.
	line("lxc.pty.max", "1024")
	// No /dev/ttyN and no console: with lxc.console.path = none the
	// container's init keeps lxc-start's stdio, which the supervisor
	// holds (Docker 1.7 relied on the same for its pipes).
	line("lxc.tty.max", "0")
	line("lxc.console.path", "none")
	// autodev: a tmpfs /dev with LXC's standard nodes (null, zero, full,
	// random, urandom, tty, ptmx), Docker's auto-created set but fuse.
	line("lxc.autodev", "1")
	if spec.Hostname != "" {
		line("lxc.uts.name", spec.Hostname)
	}

	if err := writeNamespaces(&b, spec, user); err != nil {
		return "", err
	}

	cg := "lxc.cgroup."
	if host.CgroupV2 {
		cg = "lxc.cgroup2."
	}
	parent := spec.CgroupParent
	if parent == "" {
		parent = defaultCgroupParent
	}
	parent = strings.Trim(parent, "/")
	// LXC 5 wants both set or neither; the monitor gets a sibling so the
	// container's cgroup holds only the container's processes.
	line("lxc.cgroup.dir.container", parent+"/"+spec.ID)
	line("lxc.cgroup.dir.monitor", parent+"/lxc.monitor."+spec.ID)

	if err := writeDevices(&b, spec, host, cg); err != nil {
		return "", err
	}
	if err := writeMounts(&b, spec, host); err != nil {
		return "", err
	}
	if err := writeResources(&b, spec.Resources, host.CgroupV2, cg); err != nil {
		return "", err
	}
	if err := writeProcess(&b, spec.Process); err != nil {
		return "", err
	}
	if spec.Privileged || host.NoAppArmorProfile {
		line("lxc.apparmor.profile", "unconfined")
	}
	if !spec.Privileged {
		if err := writeCaps(&b, spec.CapAdd, spec.CapDrop); err != nil {
			return "", err
		}
	}

	if len(user) > 0 {
		b.WriteString("# HostConfig.LxcConf, translated to LXC 5 keys\n")
		for _, kv := range user {
			line(kv[0], kv[1])
		}
	}
	return b.String(), nil
}

// writeNamespaces writes the network (only lo, until pluggd has
// networking) and the namespaces the container shares.
func writeNamespaces(b *strings.Builder, spec exec.ContainerSpec, user [][2]string) error {
	userNet := slices.ContainsFunc(user, func(kv [2]string) bool {
		return kv[0] == "lxc.net" || strings.HasPrefix(kv[0], "lxc.net.")
	})
	_, sharedNet := spec.SharedNamespaces["net"]
	// An operator's network lines replace the default rather than adding
	// a second network beside an "empty" one.
	if !userNet && !sharedNet {
		fmt.Fprintf(b, "lxc.net.0.type = empty\n")
	}
	kinds := make([]string, 0, len(spec.SharedNamespaces))
	for k := range spec.SharedNamespaces {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds) // stable output
	for _, kind := range kinds {
		switch kind {
		case "net", "ipc", "pid", "uts":
		default:
			return errdefs.InvalidParameter(fmt.Errorf("cannot share namespace %q", kind))
		}
		pid, err := nsPid(spec.SharedNamespaces[kind], kind)
		if err != nil {
			return err
		}
		// LXC joins the namespace of a process given by pid.
		fmt.Fprintf(b, "lxc.namespace.share.%s = %d\n", kind, pid)
	}
	return nil
}

// nsPid turns a SharedNamespaces value ("host" or /proc/<pid>/ns/<kind>)
// into the pid LXC's lxc.namespace.share.* takes.
func nsPid(v, kind string) (int, error) {
	if v == "host" {
		return 1, nil
	}
	rest, ok := strings.CutPrefix(v, "/proc/")
	if ok {
		p, tail, _ := strings.Cut(rest, "/")
		if n, err := strconv.Atoi(p); err == nil && n > 0 && tail == "ns/"+kind {
			return n, nil
		}
	}
	return 0, errdefs.InvalidParameter(fmt.Errorf("shared %s namespace %q: want \"host\" or /proc/<pid>/ns/%s", kind, v, kind))
}

func writeDevices(b *strings.Builder, spec exec.ContainerSpec, host Host, cg string) error {
	if spec.Privileged {
		fmt.Fprintf(b, "%sdevices.allow = a\n", cg)
		return nil
	}
	fmt.Fprintf(b, "%sdevices.deny = a\n", cg)
	for _, r := range defaultDeviceRules {
		fmt.Fprintf(b, "%sdevices.allow = %s\n", cg, r)
	}
	for _, d := range spec.Devices {
		if host.Device == nil {
			return errdefs.System(fmt.Errorf("device %s: no way to inspect host devices", d.PathOnHost))
		}
		typ, maj, min, err := host.Device(d.PathOnHost)
		if err != nil {
			return errdefs.InvalidParameter(fmt.Errorf("device %s: %w", d.PathOnHost, err))
		}
		perms := d.Permissions
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return errdefs.InvalidParameter(fmt.Errorf("device %s: bad permissions %q", d.PathOnHost, perms))
		}
		dst := d.PathInContainer
		if dst == "" {
			dst = d.PathOnHost
		}
		fmt.Fprintf(b, "%sdevices.allow = %c %d:%d %s\n", cg, typ, maj, min, perms)
		// The node itself: bound from the host into the autodev /dev.
		fmt.Fprintf(b, "lxc.mount.entry = %s %s none bind,create=file 0 0\n", escape(d.PathOnHost), rel(dst))
	}
	return nil
}

func writeMounts(b *strings.Builder, spec exec.ContainerSpec, host Host) error {
	has := func(dst string) bool {
		return slices.ContainsFunc(spec.Mounts, func(m exec.Mount) bool { return strings.TrimRight(m.Destination, "/") == dst })
	}
	var auto []string
	procMode, sysMode := "mixed", "ro"
	if spec.Privileged {
		procMode, sysMode = "rw", "rw"
	}
	if !has("/proc") {
		auto = append(auto, "proc:"+procMode)
	}
	if !has("/sys") {
		auto = append(auto, "sys:"+sysMode)
	}
	if len(auto) > 0 {
		fmt.Fprintf(b, "lxc.mount.auto = %s\n", strings.Join(auto, " "))
	}
	if !has("/dev/shm") {
		fmt.Fprintf(b, "lxc.mount.entry = shm dev/shm tmpfs nosuid,nodev,noexec,mode=1777,size=65536k,create=dir 0 0\n")
	}
	if !has("/dev/mqueue") {
		// As the native driver mounts it (the container has its own IPC
		// namespace, whose POSIX message queues these are).
		fmt.Fprintf(b, "lxc.mount.entry = mqueue dev/mqueue mqueue nosuid,nodev,noexec,create=dir 0 0\n")
	}
	for _, m := range spec.Mounts {
		if !strings.HasPrefix(m.Destination, "/") {
			return errdefs.InvalidParameter(fmt.Errorf("mount destination %q is not absolute", m.Destination))
		}
		typ := m.Type
		opts := slices.Clone(m.Options)
		bind := typ == "" || typ == "bind" || slices.Contains(opts, "bind") || slices.Contains(opts, "rbind")
		if bind {
			typ = "none"
			if !slices.Contains(opts, "bind") && !slices.Contains(opts, "rbind") {
				opts = append(opts, "rbind")
			}
			create := "create=file"
			if host.IsDir != nil && host.IsDir(m.Source) {
				create = "create=dir"
			}
			opts = append(opts, create)
		} else {
			opts = append(opts, "create=dir")
		}
		src := m.Source
		if src == "" {
			src = typ
		}
		fmt.Fprintf(b, "lxc.mount.entry = %s %s %s %s 0 0\n", escape(src), rel(m.Destination), typ, strings.Join(opts, ","))
	}
	return nil
}

// writeResources writes cgroup limits; zero means no limit.
func writeResources(b *strings.Builder, r exec.Resources, v2 bool, cg string) error {
	set := func(k string, v any) { fmt.Fprintf(b, "%s%s = %v\n", cg, k, v) }
	if !v2 {
		if r.Memory > 0 {
			set("memory.limit_in_bytes", r.Memory)
			set("memory.soft_limit_in_bytes", r.Memory)
		}
		if r.MemorySwap > 0 {
			// The requested total, unlike Docker 1.7's lxc template,
			// which wrote 2 × Memory whatever was asked (§3 item 8).
			set("memory.memsw.limit_in_bytes", r.MemorySwap)
		}
		if r.CPUShares > 0 {
			set("cpu.shares", r.CPUShares)
		}
		if r.CPUPeriod > 0 {
			set("cpu.cfs_period_us", r.CPUPeriod)
		}
		if r.CPUQuota > 0 {
			set("cpu.cfs_quota_us", r.CPUQuota)
		}
		if r.BlkioWeight > 0 {
			set("blkio.weight", r.BlkioWeight)
		}
		if r.OomKillDisable {
			set("memory.oom_control", 1)
		}
	} else {
		if r.Memory > 0 {
			set("memory.max", r.Memory)
		}
		if r.MemorySwap > 0 && r.Memory > 0 {
			// v2 limits swap alone; v1's memsw was memory + swap.
			set("memory.swap.max", max(r.MemorySwap-r.Memory, 0))
		}
		if r.CPUShares > 0 {
			// runc's conversion of shares [2, 262144] to weight [1, 10000].
			set("cpu.weight", 1+((r.CPUShares-2)*9999)/262142)
		}
		if r.CPUQuota > 0 {
			period := r.CPUPeriod
			if period == 0 {
				period = 100000
			}
			set("cpu.max", fmt.Sprintf("%d %d", r.CPUQuota, period))
		}
		if r.BlkioWeight > 0 {
			set("io.weight", 1+(int(r.BlkioWeight)-10)*9999/990)
		}
		if r.OomKillDisable {
			return errdefs.InvalidParameter(fmt.Errorf("OomKillDisable needs cgroup v1: cgroup v2 cannot disable the OOM killer for a cgroup"))
		}
	}
	if r.CpusetCpus != "" {
		set("cpuset.cpus", r.CpusetCpus)
	}
	if r.CpusetMems != "" {
		set("cpuset.mems", r.CpusetMems)
	}
	for _, rl := range r.Rlimits {
		if rl.Type == "" || strings.ContainsAny(rl.Type, " .\n=") {
			return errdefs.InvalidParameter(fmt.Errorf("bad rlimit type %q", rl.Type))
		}
		fmt.Fprintf(b, "lxc.prlimit.%s = %d:%d\n", rl.Type, rl.Soft, rl.Hard)
	}
	return nil
}

// writeProcess writes the environment, working directory and user of the
// container's program (its arguments go on lxc-start's command line).
func writeProcess(b *strings.Builder, p exec.Process) error {
	for _, e := range p.Env {
		if strings.ContainsAny(e, "\n\r") {
			return errdefs.InvalidParameter(fmt.Errorf("environment variable %q contains a line break", e))
		}
		fmt.Fprintf(b, "lxc.environment = %s\n", e)
	}
	if p.Cwd != "" {
		fmt.Fprintf(b, "lxc.init.cwd = %s\n", p.Cwd)
	}
	if p.User == "" {
		return nil
	}
	u, g, hasGroup := strings.Cut(p.User, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		// Names need the container's /etc/passwd, read at Create.
		return errdefs.NotImplemented(fmt.Errorf("user %q: the lxc driver takes only numeric uid[:gid] so far", p.User))
	}
	fmt.Fprintf(b, "lxc.init.uid = %d\n", uid)
	if hasGroup {
		gid, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return errdefs.NotImplemented(fmt.Errorf("user %q: the lxc driver takes only numeric uid[:gid] so far", p.User))
		}
		fmt.Fprintf(b, "lxc.init.gid = %d\n", gid)
	}
	return nil
}

// writeCaps applies CapAdd and CapDrop to Docker's default set with
// Docker 1.7's TweakCapabilities rules (case-insensitive names without
// "CAP_", "all" in either list, an added capability survives a drop, an
// unknown name is an error) and writes LXC's keep or drop list.
func writeCaps(b *strings.Builder, add, drop []string) error {
	adds, addAll, err := caps.Parse(add, "to add")
	if err != nil {
		return err
	}
	drops, dropAll, err := caps.Parse(drop, "to drop")
	if err != nil {
		return err
	}
	switch {
	case addAll:
		// Every capability LXC can give, less the drops: a drop list,
		// since "every" is the host's bounding set, which LXC knows.
		for _, c := range drops {
			if !slices.Contains(adds, c) {
				fmt.Fprintf(b, "lxc.cap.drop = %s\n", strings.ToLower(c))
			}
		}
		return nil
	case dropAll && len(adds) == 0:
		fmt.Fprintf(b, "lxc.cap.keep = none\n")
		return nil
	}
	keep := caps.Tweak(caps.Defaults(), adds, drops, dropAll)
	fmt.Fprintf(b, "lxc.cap.keep = %s\n", strings.ToLower(strings.Join(keep, " ")))
	return nil
}

// rel makes a container path relative, which LXC 5 resolves under the
// container's rootfs mount.
func rel(p string) string { return escape(strings.TrimLeft(p, "/")) }

// escape writes spaces as \040, as fstab lines want (Docker 1.7 did too).
func escape(p string) string { return strings.ReplaceAll(p, " ", `\040`) }

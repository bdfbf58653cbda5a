package daemon

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// defaultPath is Docker 1.7's DefaultPathEnv, set when the container's
// environment has no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// bind is one HostConfig.Binds entry.
type bind struct {
	src, dst string
	ro       bool
}

// parseBind reads "host-src:container-dest[:ro|rw]" (v1.19 doc, Binds);
// both paths must be absolute.
func parseBind(s string) (bind, error) {
	parts := strings.Split(s, ":")
	var b bind
	switch len(parts) {
	case 2:
	case 3:
		switch parts[2] {
		case "ro":
			b.ro = true
		case "rw":
		default:
			return b, errdefs.InvalidParameter(fmt.Errorf("Invalid volume specification: %s", s))
		}
	default:
		return b, errdefs.InvalidParameter(fmt.Errorf("Invalid volume specification: %s", s))
	}
	b.src, b.dst = filepath.Clean(parts[0]), filepath.Clean(parts[1])
	if !filepath.IsAbs(parts[0]) || !filepath.IsAbs(parts[1]) || b.dst == "/" {
		return b, errdefs.InvalidParameter(fmt.Errorf("Invalid volume specification: %s", s))
	}
	return b, nil
}

// containerEnv is Docker 1.7's createDaemonEnvironment: PATH and HOSTNAME
// (and TERM with a terminal) first, replaced by the container's own
// variables of the same name, which are appended in order otherwise.
func containerEnv(cfg *container.Config) []string {
	env := []string{"PATH=" + defaultPath, "HOSTNAME=" + cfg.Hostname}
	if cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	for _, e := range cfg.Env {
		k, _, _ := strings.Cut(e, "=")
		replaced := false
		for i, d := range env {
			if dk, _, _ := strings.Cut(d, "="); dk == k {
				env[i], replaced = e, true
				break
			}
		}
		if !replaced {
			env = append(env, e)
		}
	}
	return env
}

// namespaceMode maps a HostConfig namespace mode to the spec's shared
// namespace: "host", or another container's (pidOf resolves it).
func namespaceMode(mode string, pidOf func(ref string) (int, error)) (string, error) {
	if mode == "host" {
		return "host", nil
	}
	if ref, ok := container.SharedContainer(mode); ok {
		pid, err := pidOf(ref)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("/proc/%d/ns/", pid), nil
	}
	return "", nil
}

// buildSpec turns a container record into what the exec driver runs.
func (s *Containers) buildSpec(r *container.Record, rootfs string) (exec.ContainerSpec, error) {
	cfg, hc := r.Config, r.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	spec := exec.ContainerSpec{
		ID:             r.ID,
		Rootfs:         rootfs,
		ReadonlyRootfs: hc.ReadonlyRootfs,
		Hostname:       cfg.Hostname,
		Domainname:     cfg.Domainname,
		Process: exec.Process{
			Args:      append([]string{r.Path}, r.Args...),
			Env:       containerEnv(cfg),
			Cwd:       cwd,
			User:      cfg.User,
			Terminal:  cfg.Tty,
			OpenStdin: cfg.OpenStdin,
			StdinOnce: cfg.StdinOnce,
		},
		CapAdd:       hc.CapAdd,
		CapDrop:      hc.CapDrop,
		Privileged:   hc.Privileged,
		CgroupParent: hc.CgroupParent,
		LogPath:      r.LogPath,
		Resources: exec.Resources{
			Memory:         hc.Memory,
			MemorySwap:     hc.MemorySwap,
			CPUShares:      hc.CpuShares,
			CPUPeriod:      hc.CpuPeriod,
			CPUQuota:       hc.CpuQuota,
			CpusetCpus:     hc.CpusetCpus,
			CpusetMems:     hc.CpusetMems,
			BlkioWeight:    uint16(hc.BlkioWeight),
			OomKillDisable: hc.OomKillDisable,
		},
	}
	for _, u := range hc.Ulimits {
		if u != nil {
			spec.Resources.Rlimits = append(spec.Resources.Rlimits, exec.Rlimit{Type: u.Name, Hard: uint64(u.Hard), Soft: uint64(u.Soft)})
		}
	}
	for _, kv := range hc.LxcConf {
		spec.LxcConf = append(spec.LxcConf, [2]string{kv.Key, kv.Value})
	}
	for _, d := range hc.Devices {
		perms := d.CgroupPermissions
		if perms == "" {
			perms = "rwm"
		}
		dst := d.PathInContainer
		if dst == "" {
			dst = d.PathOnHost
		}
		spec.Devices = append(spec.Devices, exec.Device{PathOnHost: d.PathOnHost, PathInContainer: dst, Permissions: perms})
	}
	pidOf := func(ref string) (int, error) {
		other, err := s.store.Get(ref)
		if err != nil {
			return 0, err
		}
		other.Lock()
		defer other.Unlock()
		if !other.State.Running {
			return 0, errdefs.Conflict(fmt.Errorf("cannot join the namespaces of container %s: it is not running", ref))
		}
		return other.State.Pid, nil
	}
	spec.SharedNamespaces = map[string]string{}
	for kind, mode := range map[string]string{"net": hc.NetworkMode, "ipc": hc.IpcMode, "pid": hc.PidMode, "uts": hc.UTSMode} {
		ns, err := namespaceMode(mode, pidOf)
		if err != nil {
			return spec, err
		}
		if strings.HasSuffix(ns, "/") {
			ns += kind
		}
		if ns != "" {
			spec.SharedNamespaces[kind] = ns
		}
	}
	for _, raw := range hc.Binds {
		b, err := parseBind(raw)
		if err != nil {
			return spec, err
		}
		mode := "rw"
		if b.ro {
			mode = "ro"
		}
		spec.Mounts = append(spec.Mounts, exec.Mount{Source: b.src, Destination: b.dst, Type: "bind", Options: []string{"rbind", mode}})
	}
	// Docker 1.7 bound these three after the volumes, rw unless the
	// rootfs is read-only (DOCKER17.md §3, Mounts).
	mode := "rw"
	if hc.ReadonlyRootfs {
		mode = "ro"
	}
	for _, f := range []struct{ src, dst string }{
		{r.ResolvConfPath, "/etc/resolv.conf"},
		{r.HostnamePath, "/etc/hostname"},
		{r.HostsPath, "/etc/hosts"},
	} {
		if f.src != "" {
			spec.Mounts = append(spec.Mounts, exec.Mount{Source: f.src, Destination: f.dst, Type: "bind", Options: []string{"bind", mode}})
		}
	}
	return spec, nil
}

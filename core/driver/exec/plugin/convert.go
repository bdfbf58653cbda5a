package plugin

import (
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	execv1 "github.com/pluggd/pluggd/core/driver/exec/plugin/proto"
)

// Conversions between the contract's types and the wire's. Both directions
// live side by side so that a field added to one is visibly missing from
// the other.

// unixNano is 0 for the zero time: time.Time{}.UnixNano() is outside
// int64's range and undefined.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func infoToProto(i exec.Info) *execv1.Info {
	return &execv1.Info{
		Name: i.Name,
		Capabilities: &execv1.Capabilities{
			Pause:   i.Capabilities.Pause,
			Stats:   i.Capabilities.Stats,
			Tty:     i.Capabilities.Tty,
			LxcConf: i.Capabilities.LxcConf,
			Exec:    i.Capabilities.Exec,
		},
	}
}

func infoFromProto(i *execv1.Info) exec.Info {
	c := i.GetCapabilities()
	return exec.Info{
		Name: i.GetName(),
		Capabilities: exec.Capabilities{
			Pause:   c.GetPause(),
			Stats:   c.GetStats(),
			Tty:     c.GetTty(),
			LxcConf: c.GetLxcConf(),
			Exec:    c.GetExec(),
		},
	}
}

func stateToProto(s exec.State) *execv1.State {
	return &execv1.State{
		Id:                 s.ID,
		Status:             execv1.Status(s.Status),
		Pid:                int64(s.Pid),
		StartedAtUnixNano:  unixNano(s.StartedAt),
		FinishedAtUnixNano: unixNano(s.FinishedAt),
		Exit: &execv1.ExitStatus{
			Code:      int32(s.Exit.Code),
			OomKilled: s.Exit.OOMKilled,
			Error:     s.Exit.Error,
		},
		Supervisor:    s.Supervisor,
		SupervisorPid: int64(s.SupervisorPid),
	}
}

func stateFromProto(s *execv1.State) exec.State {
	return exec.State{
		ID:         s.GetId(),
		Status:     exec.Status(s.GetStatus()),
		Pid:        int(s.GetPid()),
		StartedAt:  fromUnixNano(s.GetStartedAtUnixNano()),
		FinishedAt: fromUnixNano(s.GetFinishedAtUnixNano()),
		Exit: exec.ExitStatus{
			Code:      int(s.GetExit().GetCode()),
			OOMKilled: s.GetExit().GetOomKilled(),
			Error:     s.GetExit().GetError(),
		},
		Supervisor:    s.GetSupervisor(),
		SupervisorPid: int(s.GetSupervisorPid()),
	}
}

func statsToProto(s exec.Stats) *execv1.StatsResponse {
	return &execv1.StatsResponse{
		ReadUnixNano: unixNano(s.Read),
		CpuTotal:     s.CPUTotal,
		MemoryUsage:  s.MemoryUsage,
		MemoryLimit:  s.MemoryLimit,
		Pids:         s.Pids,
	}
}

func statsFromProto(s *execv1.StatsResponse) exec.Stats {
	return exec.Stats{
		Read:        fromUnixNano(s.GetReadUnixNano()),
		CPUTotal:    s.GetCpuTotal(),
		MemoryUsage: s.GetMemoryUsage(),
		MemoryLimit: s.GetMemoryLimit(),
		Pids:        s.GetPids(),
	}
}

func signalToProto(sig syscall.Signal) uint32 { return uint32(sig) }

func signalFromProto(n uint32) syscall.Signal { return syscall.Signal(n) }

func specToProto(s exec.ContainerSpec) *execv1.ContainerSpec {
	out := &execv1.ContainerSpec{
		Id:               s.ID,
		Rootfs:           s.Rootfs,
		ReadonlyRootfs:   s.ReadonlyRootfs,
		Hostname:         s.Hostname,
		Domainname:       s.Domainname,
		Process:          processToProto(s.Process),
		SharedNamespaces: s.SharedNamespaces,
		CapAdd:           s.CapAdd,
		CapDrop:          s.CapDrop,
		Privileged:       s.Privileged,
		Resources: &execv1.Resources{
			Memory:         s.Resources.Memory,
			MemorySwap:     s.Resources.MemorySwap,
			CpuShares:      s.Resources.CPUShares,
			CpuPeriod:      s.Resources.CPUPeriod,
			CpuQuota:       s.Resources.CPUQuota,
			CpusetCpus:     s.Resources.CpusetCpus,
			CpusetMems:     s.Resources.CpusetMems,
			BlkioWeight:    uint32(s.Resources.BlkioWeight),
			OomKillDisable: s.Resources.OomKillDisable,
		},
		CgroupParent: s.CgroupParent,
		LogPath:      s.LogPath,
	}
	for _, m := range s.Mounts {
		out.Mounts = append(out.Mounts, &execv1.Mount{Source: m.Source, Destination: m.Destination, Type: m.Type, Options: m.Options})
	}
	for _, d := range s.Devices {
		out.Devices = append(out.Devices, &execv1.Device{PathOnHost: d.PathOnHost, PathInContainer: d.PathInContainer, Permissions: d.Permissions})
	}
	for _, r := range s.Resources.Rlimits {
		out.Resources.Rlimits = append(out.Resources.Rlimits, &execv1.Rlimit{Type: r.Type, Hard: r.Hard, Soft: r.Soft})
	}
	for _, kv := range s.LxcConf {
		out.LxcConf = append(out.LxcConf, &execv1.KeyValue{Key: kv[0], Value: kv[1]})
	}
	return out
}

func specFromProto(s *execv1.ContainerSpec) exec.ContainerSpec {
	r := s.GetResources()
	out := exec.ContainerSpec{
		ID:               s.GetId(),
		Rootfs:           s.GetRootfs(),
		ReadonlyRootfs:   s.GetReadonlyRootfs(),
		Hostname:         s.GetHostname(),
		Domainname:       s.GetDomainname(),
		Process:          processFromProto(s.GetProcess()),
		SharedNamespaces: s.GetSharedNamespaces(),
		CapAdd:           s.GetCapAdd(),
		CapDrop:          s.GetCapDrop(),
		Privileged:       s.GetPrivileged(),
		Resources: exec.Resources{
			Memory:         r.GetMemory(),
			MemorySwap:     r.GetMemorySwap(),
			CPUShares:      r.GetCpuShares(),
			CPUPeriod:      r.GetCpuPeriod(),
			CPUQuota:       r.GetCpuQuota(),
			CpusetCpus:     r.GetCpusetCpus(),
			CpusetMems:     r.GetCpusetMems(),
			BlkioWeight:    uint16(r.GetBlkioWeight()),
			OomKillDisable: r.GetOomKillDisable(),
		},
		CgroupParent: s.GetCgroupParent(),
		LogPath:      s.GetLogPath(),
	}
	for _, m := range s.GetMounts() {
		out.Mounts = append(out.Mounts, exec.Mount{Source: m.GetSource(), Destination: m.GetDestination(), Type: m.GetType(), Options: m.GetOptions()})
	}
	for _, d := range s.GetDevices() {
		out.Devices = append(out.Devices, exec.Device{PathOnHost: d.GetPathOnHost(), PathInContainer: d.GetPathInContainer(), Permissions: d.GetPermissions()})
	}
	for _, rl := range r.GetRlimits() {
		out.Resources.Rlimits = append(out.Resources.Rlimits, exec.Rlimit{Type: rl.GetType(), Hard: rl.GetHard(), Soft: rl.GetSoft()})
	}
	for _, kv := range s.GetLxcConf() {
		out.LxcConf = append(out.LxcConf, [2]string{kv.GetKey(), kv.GetValue()})
	}
	return out
}

func processToProto(p exec.Process) *execv1.Process {
	return &execv1.Process{
		Args:          p.Args,
		Env:           p.Env,
		Cwd:           p.Cwd,
		User:          p.User,
		Terminal:      p.Terminal,
		OpenStdin:     p.OpenStdin,
		StdinOnce:     p.StdinOnce,
		ConsoleWidth:  uint32(p.ConsoleWidth),
		ConsoleHeight: uint32(p.ConsoleHeight),
	}
}

func processFromProto(p *execv1.Process) exec.Process {
	return exec.Process{
		Args:          p.GetArgs(),
		Env:           p.GetEnv(),
		Cwd:           p.GetCwd(),
		User:          p.GetUser(),
		Terminal:      p.GetTerminal(),
		OpenStdin:     p.GetOpenStdin(),
		StdinOnce:     p.GetStdinOnce(),
		ConsoleWidth:  uint16(p.GetConsoleWidth()),
		ConsoleHeight: uint16(p.GetConsoleHeight()),
	}
}

func execSpecToProto(s exec.ExecSpec) *execv1.ExecSpec {
	return &execv1.ExecSpec{Id: s.ID, Process: processToProto(s.Process), Privileged: s.Privileged, Attached: s.Attached}
}

func execSpecFromProto(s *execv1.ExecSpec) exec.ExecSpec {
	return exec.ExecSpec{ID: s.GetId(), Process: processFromProto(s.GetProcess()), Privileged: s.GetPrivileged(), Attached: s.GetAttached()}
}

func execStateToProto(s exec.ExecState) *execv1.ExecResponse {
	return &execv1.ExecResponse{Id: s.ID, Pid: int64(s.Pid), Supervisor: s.Supervisor}
}

func execStateFromProto(r *execv1.ExecResponse) exec.ExecState {
	return exec.ExecState{ID: r.GetId(), Pid: int(r.GetPid()), Supervisor: r.GetSupervisor()}
}

package exec

import (
	"context"
	"syscall"
	"time"
)

// Protocol version of this contract.
const (
	ProtocolMajor = 1
	// ProtocolMinor 1 added Execer and Capabilities.Exec.
	ProtocolMinor = 1
)

// Driver is what an execution driver implements: the control plane of its
// containers. Ids are the daemon's 64-hex container ids. Calls for
// different ids may be concurrent. Every method naming an unknown id returns
// an error of class NotFound.
type Driver interface {
	// Info describes the driver; called once after the Factory returned,
	// and cached by the daemon.
	Info(ctx context.Context) (Info, error)

	// Create starts the container's supervisor and creates the container:
	// namespaces, cgroups, mounts and rootfs are set up, and the init
	// process waits before executing spec.Process. The returned State has
	// Status StatusCreated and Supervisor set. A program that cannot be
	// found or executed ("exec: \"nosuch\": executable file not found in
	// $PATH") is an InvalidParameter error, and nothing is left behind:
	// no supervisor, no cgroup, no driver state.
	Create(ctx context.Context, spec ContainerSpec) (State, error)
	// Start executes the program of a created container and returns once
	// the program runs: the driver's own init code has been replaced by
	// it, so a signal sent right after Start reaches the program (Status
	// StatusRunning, Pid set). Starting a container that is not in
	// StatusCreated is a Conflict error.
	Start(ctx context.Context, id string) (State, error)
	// Signal sends sig to the container's init process. Signalling a
	// created (never started) container is allowed: SIGKILL is how the
	// daemon discards one (then it waits for State to say stopped and
	// calls Delete). Signalling a stopped container is a Conflict error.
	Signal(ctx context.Context, id string, sig syscall.Signal) error
	// State reports the container's current state. For an exited container
	// it carries the exit status the supervisor recorded; when the
	// supervisor died without recording one, Status is StatusStopped and
	// Exit.Error says so (the container's processes are killed with their
	// supervisor, so none is left running unsupervised).
	State(ctx context.Context, id string) (State, error)
	// Restore is called after the driver process (re)started: it returns
	// the state of every container the driver holds state for, running or
	// not, having checked each live supervisor's identity (not just a
	// pid, which may have been reused). It only reads: the daemon may call
	// it at any time.
	Restore(ctx context.Context) ([]State, error)
	// Delete removes the driver state of a stopped container once its
	// supervisor has exited. Deleting a created, running or paused
	// container is a Conflict error (a created one is discarded with
	// Signal(SIGKILL) first).
	Delete(ctx context.Context, id string) error

	// Pause freezes every process of the container (Capabilities.Pause).
	Pause(ctx context.Context, id string) error
	// Resume thaws a paused container (Capabilities.Pause).
	Resume(ctx context.Context, id string) error
	// Stats samples the container's resource usage (Capabilities.Stats).
	Stats(ctx context.Context, id string) (Stats, error)
}

// Factory starts a driver with the operator's configuration. ctx is valid
// only until Factory returns.
type Factory func(ctx context.Context, opts InitOptions) (Driver, error)

// InitOptions is what the daemon tells a driver when starting it.
type InitOptions struct {
	// Root is the driver's state directory, under the daemon's exec root
	// (<exec_root>/<driver name>); it survives driver and daemon restarts
	// but not a reboot. Supervisor sockets live below it, so it is kept
	// short (unix socket paths are limited to 108 bytes).
	Root string
	// Options are the operator's "key=value" exec options, in order. An
	// unknown key or a bad value is an InvalidParameter error naming it.
	Options []string
	// DaemonProtocolMinor is the minor contract version the daemon speaks.
	DaemonProtocolMinor int
}

// Info describes a running driver.
type Info struct {
	// Name is /info's ExecutionDriver and inspect's ExecDriver, as
	// "<name>-<version>" (Docker 1.7's native driver said "native-0.2").
	Name         string
	Capabilities Capabilities
}

// Capabilities are optional behaviours.
type Capabilities struct {
	Pause   bool // Pause and Resume
	Stats   bool // Stats
	Tty     bool // Process.Terminal
	LxcConf bool // ContainerSpec.LxcConf is honoured
	// Exec: the driver implements Execer (since v1.1).
	Exec bool
}

// ContainerSpec is everything a driver needs to run a container.
type ContainerSpec struct {
	ID string
	// Rootfs is the container's root directory, mounted by the storage
	// driver; the daemon keeps it mounted while the container exists.
	Rootfs         string
	ReadonlyRootfs bool
	Hostname       string
	Domainname     string
	Process        Process
	// SharedNamespaces lists namespaces to join instead of creating new
	// ones, by kind ("net", "ipc", "pid", "uts") to a path: "host" for the
	// host's own, or /proc/<pid>/ns/<kind>.
	SharedNamespaces map[string]string
	// Mounts are applied after the driver's defaults (/proc, /dev, /sys,
	// ...); a mount at the destination of a default replaces it.
	Mounts          []Mount
	Devices         []Device
	CapAdd, CapDrop []string // names without "CAP_", case-insensitive, or "all"
	Privileged      bool
	Resources       Resources
	// CgroupParent is the cgroup under which the container's cgroup is
	// made ("" means the driver's default, Docker used "docker").
	CgroupParent string
	// LxcConf holds raw "lxc.*" key/value pairs (Capabilities.LxcConf).
	LxcConf [][2]string
	// LogPath is where the supervisor appends the container's json-file
	// log, one {"log","stream","time"} object per line, as Docker 1.7 did.
	LogPath string
}

// Process is the program a container runs.
type Process struct {
	Args []string
	Env  []string
	Cwd  string
	// User is a name or uid, with an optional ":group" (name or gid),
	// resolved in the container's /etc/passwd and /etc/group.
	User string
	// Terminal gives the process a pseudo-terminal (Capabilities.Tty).
	Terminal bool
	// OpenStdin keeps the process's stdin open for attached clients;
	// without it stdin is /dev/null.
	OpenStdin bool
	// StdinOnce closes the process's stdin when the first attached client
	// that sent stdin detaches.
	StdinOnce bool
	// ConsoleWidth, ConsoleHeight are the initial terminal size (0: the
	// driver's default).
	ConsoleWidth, ConsoleHeight uint16
}

// Mount is a bind or special mount inside the container.
type Mount struct {
	Source, Destination, Type string
	Options                   []string // e.g. "rbind", "ro", "nosuid"
}

// Device is a device node made available in the container.
type Device struct {
	PathOnHost, PathInContainer, Permissions string
}

// Resources are cgroup limits; zero values mean "no limit". A driver never
// raises an rlimit above the daemon's own hard limit unless asked.
type Resources struct {
	Memory, MemorySwap, CPUShares, CPUPeriod, CPUQuota int64
	CpusetCpus, CpusetMems                             string
	BlkioWeight                                        uint16
	OomKillDisable                                     bool
	Rlimits                                            []Rlimit
}

// Rlimit is one resource limit for the container's processes.
type Rlimit struct {
	Type       string // "nofile", "nproc", ...
	Hard, Soft uint64
}

// Status is a container's coarse state.
type Status int

const (
	StatusCreated Status = iota
	StatusRunning
	StatusPaused
	StatusStopped
)

func (s Status) String() string {
	switch s {
	case StatusCreated:
		return "created"
	case StatusRunning:
		return "running"
	case StatusPaused:
		return "paused"
	case StatusStopped:
		return "stopped"
	}
	return "unknown"
}

// State is a container's state as the driver knows it.
type State struct {
	ID     string
	Status Status
	// Pid is the container's init process in the host's pid namespace
	// (0 when not running).
	Pid        int
	StartedAt  time.Time
	FinishedAt time.Time
	// Exit is meaningful when Status is StatusStopped.
	Exit ExitStatus
	// Supervisor is the unix socket of the container's supervisor, ""
	// once it has exited.
	Supervisor string
	// SupervisorPid identifies the supervisor process, for logs and tests.
	SupervisorPid int
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	// Code is the exit code; a process killed by signal N has 128+N, as a
	// shell reports it.
	Code      int
	OOMKilled bool
	// Error says why the process could not run or was lost, for example
	// "supervisor died"; empty for a normal exit.
	Error string
}

// Stats is one sample of resource usage.
type Stats struct {
	Read        time.Time
	CPUTotal    uint64 // nanoseconds
	MemoryUsage uint64
	MemoryLimit uint64
	Pids        uint64
}

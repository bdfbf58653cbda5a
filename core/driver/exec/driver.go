package exec

import (
	"context"
	"syscall"
	"time"
)

// Protocol version of this contract.
const (
	ProtocolMajor = 1
	ProtocolMinor = 0
)

// Driver is what an execution driver implements. Ids are the daemon's
// 64-hex container ids; exec ids are the daemon's ids for extra processes.
type Driver interface {
	// Info describes the driver; called once and cached.
	Info(ctx context.Context) (Info, error)

	// Create prepares a container from spec without starting its process.
	Create(ctx context.Context, spec ContainerSpec) error
	// Start starts the container's init process and returns once it runs
	// (or failed to start: a missing command is an InvalidParameter error
	// saying so, and the container stays created but not running).
	Start(ctx context.Context, id string) (State, error)
	// Signal sends sig to the init process (execID "") or to an exec'd one.
	Signal(ctx context.Context, id, execID string, sig syscall.Signal) error
	// Wait blocks until the process exits or ctx ends, and returns its
	// exit status. Waiting on a process that already exited returns at once.
	Wait(ctx context.Context, id, execID string) (ExitStatus, error)
	// State reports the container's current state.
	State(ctx context.Context, id string) (State, error)
	// Pause freezes every process of the container (Capabilities.Pause).
	Pause(ctx context.Context, id string) error
	// Resume thaws a paused container (Capabilities.Pause).
	Resume(ctx context.Context, id string) error
	// Exec starts an extra process in a running container
	// (Capabilities.Exec).
	Exec(ctx context.Context, id, execID string, p Process) error
	// Resize changes the terminal size of the init process or an exec.
	Resize(ctx context.Context, id, execID string, width, height uint16) error
	// Stats samples the container's resource usage (Capabilities.Stats).
	Stats(ctx context.Context, id string) (Stats, error)
	// Restore is called after the driver process (re)started: it returns
	// the state of every container the driver still knows about, running
	// or exited, reconnecting to their supervisors.
	Restore(ctx context.Context) ([]State, error)
	// Delete removes a stopped container's driver state. Deleting a
	// running container is a Conflict error.
	Delete(ctx context.Context, id string) error
}

// Factory starts a driver with the operator's configuration.
type Factory func(ctx context.Context, opts InitOptions) (Driver, error)

// InitOptions is what the daemon tells a driver when starting it.
type InitOptions struct {
	// Root is the driver's state directory (kept across restarts).
	Root string
	// Options are the operator's "key=value" exec options, in order.
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
	Exec    bool // Exec
	Stats   bool // Stats
	Tty     bool // Process.Terminal
	LxcConf bool // ContainerSpec.LxcConf is honoured
}

// ContainerSpec is everything a driver needs to run a container.
type ContainerSpec struct {
	ID             string
	Rootfs         string // mounted by the storage driver
	ReadonlyRootfs bool
	Hostname       string
	Process        Process
	// Namespaces to share with the host or another container instead of
	// creating new ones, by kind ("net", "ipc", "pid", "uts") to a path
	// ("host" or /proc/<pid>/ns/<kind>).
	SharedNamespaces map[string]string
	Mounts           []Mount
	Devices          []Device
	CapAdd, CapDrop  []string
	Privileged       bool
	Resources        Resources
	CgroupParent     string
	// LxcConf holds raw "lxc.*" key/value pairs (Capabilities.LxcConf).
	LxcConf [][2]string
	// Stdio are the FIFOs the supervisor opens for the init process.
	Stdio Stdio
	// LogPath is where the supervisor writes the json-file log.
	LogPath string
}

// Process is a process to run in a container.
type Process struct {
	Args     []string
	Env      []string
	Cwd      string
	User     string // name or uid[:gid], resolved inside the rootfs
	Terminal bool
	Stdio    Stdio // for Exec; the init process uses ContainerSpec.Stdio
}

// Stdio names FIFOs created by the daemon ("" when that stream is not wanted).
type Stdio struct {
	Stdin, Stdout, Stderr string
}

// Mount is a bind or special mount inside the container.
type Mount struct {
	Source, Destination, Type string
	Options                   []string
}

// Device is a device node made available in the container.
type Device struct {
	PathOnHost, PathInContainer, Permissions string
}

// Resources are cgroup limits; zero values mean "no limit".
type Resources struct {
	Memory, MemorySwap, CPUShares, CPUPeriod, CPUQuota int64
	CpusetCpus, CpusetMems                             string
	BlkioWeight                                        uint16
	OomKillDisable                                     bool
	Rlimits                                            []Rlimit
}

// Rlimit is one resource limit for the container's processes.
type Rlimit struct {
	Type       string
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

// State is a container's state as the driver knows it.
type State struct {
	ID         string
	Status     Status
	Pid        int
	StartedAt  time.Time
	FinishedAt time.Time
	Exit       ExitStatus
}

// ExitStatus is how a process ended.
type ExitStatus struct {
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

package exec

import "context"

// Execer is the part of a driver that runs additional processes in a
// running container, as docker exec does. It was added in contract v1.1
// and is a separate interface so that a driver written against v1.0 still
// satisfies Driver: a driver implements it and declares
// Capabilities.Exec, and the daemon calls it only then. (A v1.0 plugin
// answers the Exec RPC as not implemented; the daemon's client says so
// without calling when the negotiated version is 1.0.)
//
// # Where the process lives
//
// An exec process belongs to the container's supervisor, as the init
// does: the supervisor starts it (through its Runtime, which must
// implement supervisor.RuntimeExecer), holds its stdio, reaps it and keeps
// its exit status. The daemon reaches all of that on the supervisor's
// socket by exec id (supervisor.Client's AttachExec, ResizeExec, WaitExec,
// ExecInfo), never through the driver process, which may die and be
// relaunched while the process runs. Nothing of it is written to the
// container's log, as in Docker.
//
// An exec process ends with its container: it runs in the container's
// namespaces and cgroups, and when the container's init exits the
// supervisor kills what is left of it (a private pid namespace does this
// by itself) before it reports the container stopped and exits. Exec
// records are kept by the supervisor only, so they are gone with it.
type Execer interface {
	// Exec starts spec.Process in the running container id: in its
	// namespaces, cgroups, root filesystem and confinement (capabilities,
	// devices), with the container's rlimits, as spec.Process.User ("" is
	// root; the daemon passes the container's user when docker exec names
	// none, as Docker 1.7 did), in spec.Process.Cwd ("" is "/"),
	// with exactly spec.Process.Env (the daemon passes the container's
	// environment; PATH and HOME are added as for the init when missing).
	// Privileged gives the process every capability (docker exec
	// --privileged, which Docker 1.7 documented but did not pass on).
	//
	// Exec returns once the program runs: the driver's own code has been
	// replaced by it, so a signal sent at once reaches the program. The
	// returned ExecState names the supervisor socket on which the process
	// is attached, resized and waited for by spec.ID.
	//
	// Errors: an unknown container is NotFound; a container that is not
	// running (created, paused or stopped) is a Conflict, as is an exec
	// id the container already has; a program that cannot be found or
	// executed ("exec: \"nosuch\": executable file not found in $PATH"),
	// a bad user or working directory are InvalidParameter errors, and
	// then no process is left and the id is not taken. A driver without
	// exec support returns a NotImplemented error.
	Exec(ctx context.Context, id string, spec ExecSpec) (ExecState, error)
}

// ExecSpec is an additional process to run in a container.
type ExecSpec struct {
	// ID is the daemon's exec id (64 hex digits), unique among the
	// container's exec processes.
	ID string
	// Process is what to run. Terminal, OpenStdin, StdinOnce and the
	// console size mean what they mean for a container's init;
	// docker exec sets StdinOnce whenever it attaches stdin.
	Process Process
	// Privileged gives the process every capability.
	Privileged bool
	// Attached says a client is going to attach to the process's output
	// (docker exec without -d). The supervisor then reads none of it until
	// the first client attached to this exec, so that nothing written
	// between Exec and the attachment is lost; a process that writes more
	// than the pipe or terminal holds meanwhile waits, as it would for a
	// slow client. Without Attached the output is read and discarded, as
	// Docker's detached exec did.
	Attached bool
}

// ExecState is what Exec started.
type ExecState struct {
	// ID is ExecSpec.ID.
	ID string
	// Pid is the process in the host's pid namespace.
	Pid int
	// Supervisor is the unix socket of the container's supervisor, where
	// the process is attached to, resized and waited for by ID.
	Supervisor string
}

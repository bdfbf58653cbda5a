package supervisor

import (
	"context"
	"os"

	"github.com/pluggd/pluggd/core/driver/exec"
)

// Runtime is how a driver makes and starts its container's process; the
// supervisor calls it from Main, in the supervisor process. Calls are made
// in this order, never concurrently: Create, then (if a client asks) Start,
// then, once the init has been reaped (whether or not it was started: a
// created container ends when the driver kills its init), Exited and
// Destroy.
//
// # Who reaps whom
//
// The supervisor is a child subreaper: it is the parent of the container's
// init and inherits the container's orphans. The rule is:
//
//   - While Create or Start runs, the supervisor reaps nothing, so the
//     Runtime may start helper processes and wait for them itself
//     (libcontainer waits for its "runc init" bootstrap process there).
//   - At every other time the supervisor reaps every child with
//     wait4(-1) and keeps the init's status for itself. A Runtime must not
//     wait for the init (libcontainer's Process.Wait would race with the
//     supervisor: do not call it) nor leave helpers running that it means
//     to wait for after Start returned.
//
// The init's exit status reaches the Runtime through Exited.
//
// A Runtime that gives the init a parent-death signal forks it from a
// ForkThread: the signal follows the forking thread, not the process.
type Runtime interface {
	// Create creates the container with its init ready but not yet
	// executing the program, and returns the init's pid (in the host's pid
	// namespace). The init must be a child of the calling (supervisor)
	// process and have SIGKILL as its parent-death signal, so that it dies
	// with a killed supervisor.
	//
	// Without a terminal, stdio holds the child ends of pipes made by the
	// supervisor (Stdin is nil, meaning /dev/null, unless OpenStdin); the
	// supervisor closes its copies once Create returns. With a terminal
	// (stdio.Terminal), the Runtime makes the pseudo-terminal (the init's
	// controlling terminal and stdio) and returns its master in
	// Created.Console; the supervisor owns it from then on.
	//
	// A program that cannot be found or executed must be an error of class
	// errdefs.InvalidParameter carrying the reason (Spawn hands the class
	// and message back to the driver). On error, Create leaves nothing
	// behind (processes, cgroups, runtime state).
	Create(ctx context.Context, stdio Stdio) (Created, error)
	// Start makes the init execute the program. It returns once the program
	// runs (or failed to).
	Start(ctx context.Context) error
	// Exited is called once with the init's exit status as the supervisor
	// reaped it (Code 128+N for a signal). It returns the status to record,
	// typically with OOMKilled filled in from the container's cgroup.
	Exited(ctx context.Context, status exec.ExitStatus) exec.ExitStatus
	// Destroy releases what the container held (cgroups, runtime state)
	// after its init exited. The exit status is already recorded; waiters
	// are answered after Destroy returns, so that a driver deleting the
	// container then finds its resources gone.
	Destroy(ctx context.Context) error
}

// Stdio is the container init's standard streams as the supervisor
// offers them to Runtime.Create.
type Stdio struct {
	// Stdin is nil (the program reads /dev/null) unless OpenStdin.
	Stdin, Stdout, Stderr *os.File
	// Terminal asks the Runtime for a pseudo-terminal: the three files are
	// nil, and Created.Console must hold the master.
	Terminal bool
	// Width and Height are the terminal's initial size (0: leave as is);
	// the supervisor also applies them to the master after Create.
	Width, Height uint16
}

// Created is what Runtime.Create made.
type Created struct {
	// Pid is the init process, a child of the supervisor: the process the
	// supervisor signals and reaps, whose exit status goes to Exited.
	Pid int
	// ContainerPid is the container's first process as users see it
	// (State.Pid, docker inspect's State.Pid) when that is not Pid: a
	// Runtime whose container manager sits between the supervisor and the
	// container (LXC's monitor, which must stay the parent of the
	// container's init) reaps and signals Pid and reports ContainerPid.
	// 0 means Pid.
	ContainerPid int
	// Console is the pseudo-terminal master when Stdio.Terminal was set.
	Console *os.File
}

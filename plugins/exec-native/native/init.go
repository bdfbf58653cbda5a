package native

import (
	"runtime"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// Init is the "init" role of the plugin binary: libcontainer's container
// init (what "runc init" runs), after giving the init the parent-death
// signal libcontainer means it to have. It never returns.
//
// libcontainer sets Config.ParentDeathSignal on the process it forks, but
// nsenter then clones twice (CLONE_PARENT, so the init is still the
// supervisor's child) and the kernel clears the parent-death signal of a
// clone; the init would survive a killed supervisor, running
// unsupervised. Setting it here, on the thread libcontainer.Init locks
// and later execs from, makes it stick: runc's init reads it before
// changing credentials (which clear it) and restores it afterwards. If the
// supervisor died before this line, the init's sync pipe is closed and
// libcontainer's init fails instead of running the program.
func Init() {
	runtime.LockOSThread() // the thread Init locks again and execs from
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	libcontainer.Init()
}

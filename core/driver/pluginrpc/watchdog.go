package pluginrpc

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ParentPollInterval is how often WatchParent checks its parent pid. The
// contract promises a plugin exits within 5 s of the daemon's death.
const ParentPollInterval = 250 * time.Millisecond

// WatchParent arranges for onDeath to be called when the process that
// started this one dies, however it dies (SIGKILL included), and returns.
// onDeath must end the process; it is called from the watchdog's goroutine,
// which ends with ctx.
//
// Two mechanisms, because each alone has a hole:
//   - prctl(PR_SET_PDEATHSIG, SIGKILL): immediate, but the kernel ties it
//     to the parent *thread* that forked us (prctl(2)), and it is lost if
//     the parent died before the call.
//   - polling getppid(2): when the parent dies the kernel reparents us to
//     init or a subreaper, so the parent pid changes. The expected parent is
//     taken from ParentPIDEnv when the daemon set it, which also catches a
//     parent that died before we started watching.
func WatchParent(ctx context.Context, log *slog.Logger, onDeath func()) {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		log.Warn("prctl(PR_SET_PDEATHSIG) failed; relying on polling", "error", err)
	}
	parent := os.Getppid()
	if v, err := strconv.Atoi(os.Getenv(ParentPIDEnv)); err == nil && v > 0 {
		parent = v
	}
	check := func() bool {
		if ppid := os.Getppid(); ppid != parent {
			log.Error("daemon died, exiting", "daemon_pid", parent, "new_parent_pid", ppid)
			onDeath()
			return true
		}
		return false
	}
	if check() {
		return
	}
	go func() {
		t := time.NewTicker(ParentPollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if check() {
					return
				}
			}
		}
	}()
}

package supervisor

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// StartIn is the rest of a driver's Start once it has read the
// container's State: it refuses a container that is not created with a
// Conflict error, then asks the container's supervisor to run the program
// (Runtime.Start). The driver then reads the State again.
func StartIn(ctx context.Context, st exec.State) error {
	if st.Status != exec.StatusCreated || st.Supervisor == "" {
		return errdefs.Conflict(fmt.Errorf("container %s is %s, not created", st.ID, st.Status))
	}
	c, err := Dial(ctx, st.Supervisor)
	if err != nil {
		return err
	}
	return c.Start(ctx)
}

// ExeID identifies an executable file: its device and inode.
type ExeID struct{ Dev, Ino uint64 }

// Executable identifies the file process pid executes (a stat of
// /proc/<pid>/exe follows the link to the file itself, across mount
// namespaces). A Runtime uses it to tell its own init code from the
// program that replaced it (Runtime.Start and RuntimeExecer.Exec return
// once the program runs).
func Executable(pid int) (ExeID, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/exe", &st); err != nil {
		return ExeID{}, err
	}
	return ExeID{st.Dev, st.Ino}, nil
}

// WaitExecuted waits until process pid executes another file than before,
// or is gone (a zombie has no executable: the program ran and exited, or
// its execve failed and the process exited). The last steps of an init
// before its execve take well under a millisecond, so the polls start
// short.
func WaitExecuted(ctx context.Context, pid int, before ExeID) error {
	delay := 50 * time.Microsecond
	for {
		id, err := Executable(pid)
		if err != nil || id != before {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if delay < 5*time.Millisecond {
			delay *= 2
		}
	}
}

package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/errdefs"
)

// LockFileName is the lock taken in the root: two daemons on one root would
// corrupt each other's image store and driver state.
const LockFileName = "pluggd.lock"

// pidLock is an flock(2)ed file holding the owner's pid. The kernel drops
// the lock when the process dies, so a crash never leaves a stale lock; the
// file itself may stay.
type pidLock struct {
	f    *os.File
	path string
}

// errLocked builds the refusal, naming the holder's pid when the file says.
func errLocked(what, path string) error {
	pid := "unknown pid"
	if b, err := os.ReadFile(path); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pid = "pid " + strconv.Itoa(n)
		}
	}
	return errdefs.Conflict(fmt.Errorf("pluggd is already running %s (%s)", what, pid))
}

// lockPidFile takes an exclusive, non-blocking flock on path and writes our
// pid into it. what describes the lock for the refusal message ("on root
// /var/lib/pluggd").
func lockPidFile(path, what string) (*pidLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	// No O_TRUNC: the file holds the current owner's pid until we own it.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errLocked(what, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &pidLock{f: f, path: path}, nil
}

// release drops the lock; with remove (the pidfile) the file goes first,
// while still locked, so no other daemon's fresh pidfile is deleted.
func (l *pidLock) release(remove bool) error {
	if l == nil || l.f == nil {
		return nil
	}
	var err error
	if remove {
		err = os.Remove(l.path)
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// Locks are the daemon's root lock and pidfile.
type Locks struct {
	root, pid *pidLock
}

// Lock takes the root lock (<root>/pluggd.lock) and then the pidfile. A
// second daemon on the same root or with the same pidfile gets a Conflict
// error: "pluggd is already running on root X (pid N)".
func Lock(root, pidfile string) (*Locks, error) {
	r, err := lockPidFile(filepath.Join(root, LockFileName), "on root "+root)
	if err != nil {
		return nil, err
	}
	p, err := lockPidFile(pidfile, "with pidfile "+pidfile)
	if err != nil {
		r.release(false)
		return nil, err
	}
	return &Locks{root: r, pid: p}, nil
}

// Release removes the pidfile and drops both locks. The root's lock file
// stays: removing it would let a daemon lock a new inode while another
// still holds the old one.
func (l *Locks) Release() error {
	if l == nil {
		return nil
	}
	err := l.pid.release(true)
	if rerr := l.root.release(false); err == nil {
		err = rerr
	}
	return err
}

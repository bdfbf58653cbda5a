package lxc

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExecHelper is the body of "<binary> exec-helper", run by lxc-attach in
// the container as root (exec.go): it says it is ready on the control
// socket (fd 3), reads its process once the supervisor closes its side,
// takes the process's terminal or stdio, groups, gid, uid and working
// directory, and executes the program in its place with exactly the
// process's environment. Why it could not is written on the socket for
// Exec, which returns it as an InvalidParameter error; it then exits
// with Docker's status for a program that cannot run (127 not found, 126
// otherwise), which nobody sees: the exec did not start.
func ExecHelper() int {
	fail := func(code int, err error) int {
		unix.Write(helperCtlFd, []byte(err.Error()))
		return code
	}
	// Its own session, as runc's exec processes: out of the supervisor's
	// (lxc-attach's) process group, and able to take a controlling
	// terminal.
	if _, err := unix.Setsid(); err != nil {
		return fail(126, fmt.Errorf("exec helper: setsid: %w", err))
	}
	if _, err := unix.Write(helperCtlFd, []byte{'r'}); err != nil {
		return 126
	}
	var b []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(helperCtlFd, buf)
		if err == unix.EINTR {
			continue
		}
		if n <= 0 || err != nil {
			break
		}
		b = append(b, buf[:n]...)
	}
	var cfg execHelperConfig
	if err := json.Unmarshal(b, &cfg); err != nil || len(cfg.Args) == 0 {
		// The supervisor gave up (end-of-file without a process).
		return 126
	}
	if err := helperStdio(cfg.Tty); err != nil {
		return fail(126, err)
	}
	// syscall's, not unix's: they apply to every thread of the Go
	// runtime.
	if err := syscall.Setgroups(cfg.Groups); err != nil {
		return fail(126, fmt.Errorf("setgroups %v: %w", cfg.Groups, err))
	}
	if err := syscall.Setgid(cfg.GID); err != nil {
		return fail(126, fmt.Errorf("setgid %d: %w", cfg.GID, err))
	}
	if err := syscall.Setuid(cfg.UID); err != nil {
		return fail(126, fmt.Errorf("setuid %d: %w", cfg.UID, err))
	}
	if err := unix.Chdir(cfg.Cwd); err != nil {
		return fail(126, fmt.Errorf("chdir to %s: %w", cfg.Cwd, err))
	}
	path := ""
	for _, kv := range cfg.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	prog, err := lookPath(cfg.Args[0], path)
	if err != nil {
		return fail(127, fmt.Errorf("exec: %q: %w", cfg.Args[0], err))
	}
	// The socket too: end-of-file tells the supervisor the program runs.
	closeOnExecFrom(helperCtlFd)
	err = syscall.Exec(prog, cfg.Args, cfg.Env)
	if errors.Is(err, syscall.ENOENT) {
		return fail(127, fmt.Errorf("exec: %q: %w", cfg.Args[0], err))
	}
	return fail(126, fmt.Errorf("exec: %q: %w", cfg.Args[0], err))
}

// closeOnExecFrom marks every descriptor from fd on close-on-exec, so
// that the program gets its stdio only, as runc's exec processes do:
// nothing lxc-attach or the supervisor inherited reaches the container.
// close_range(2) does it at once (Linux 5.11); /proc/self/fd otherwise.
func closeOnExecFrom(fd int) {
	if unix.CloseRange(uint(fd), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= fd {
			unix.CloseOnExec(n)
		}
	}
}

// helperStdio makes the process's stdio: the terminal /dev/pts/<tty> of
// the container's devpts as stdio and controlling terminal, or, with tty
// -1, the files the supervisor passed as fds 4, 5 and 6.
func helperStdio(tty int) error {
	if tty < 0 {
		for fd := range 3 {
			if err := unix.Dup2(helperStdioFd+fd, fd); err != nil {
				return fmt.Errorf("exec helper: stdio: %w", err)
			}
			unix.Close(helperStdioFd + fd)
		}
		return nil
	}
	name := "/dev/pts/" + strconv.Itoa(tty)
	fd, err := unix.Open(name, unix.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("exec helper: open %s: %w", name, err)
	}
	for i := range 3 {
		if err := unix.Dup2(fd, i); err != nil {
			return fmt.Errorf("exec helper: %w", err)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	// A session leader; arg 0: steal the terminal from no one.
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("exec helper: make %s the controlling terminal: %w", name, err)
	}
	return nil
}

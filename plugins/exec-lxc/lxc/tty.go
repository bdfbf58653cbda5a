package lxc

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Terminals. LXC's foreground start (lxc-start -F without a console) gives
// the container's init lxc-start's own stdio, so the supervisor makes a
// pseudo-terminal and hands its slave to lxc-start as the three streams.
// But LXC calls setsid() in the init right before executing it and never
// makes that terminal the init's controlling terminal, without which ^C,
// ^Z and SIGWINCH never reach the program. Only the session leader itself
// can take a controlling terminal (TIOCSCTTY), so in TTY mode the init
// first executes a tiny init of ours, this very binary bind-mounted into
// the container's /dev, which does TIOCSCTTY on its stdin and then
// executes the program, which stays pid 1 (as Docker 1.7's lxc driver did
// with /.dockerinit). The binary must then be static: the container's
// image has no libc for it. The Makefile builds exec-lxc with
// CGO_ENABLED=0; a dynamic binary (a test binary, say) does not declare
// Capabilities.Tty.

// ttyInitPath is where the tiny init is bind-mounted in the container.
// /dev is LXC's autodev tmpfs, so nothing is left in the container's
// filesystem.
const ttyInitPath = "/dev/.pluggd-init"

// TTYInitArg is the argument that makes the binary play the tiny init:
// "<binary> tty-init <program> <args>...".
const TTYInitArg = "tty-init"

// staticBinary reports whether the ELF file at path needs no dynamic
// loader (it has no PT_INTERP program header).
func staticBinary(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// openPty opens a new pseudo-terminal on the host's /dev/ptmx, sized
// width×height when both are set.
func openPty(width, height uint16) (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlock the pseudo-terminal: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("name the pseudo-terminal: %w", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("open the pseudo-terminal's slave: %w", err)
	}
	if width > 0 && height > 0 {
		unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: width, Row: height})
	}
	return m, s, nil
}

// TTYInit is the body of "<binary> tty-init <program> <args>..." run as
// the container's init: it makes its stdin (the terminal) its controlling
// terminal and executes the program in its place, looked up in the
// container's PATH. It returns only on failure, with the exit status
// Docker used for a program that cannot run.
func TTYInit(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "tty-init: no program")
		return 127
	}
	// LXC made this process a session leader; steal nothing (arg 0).
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		fmt.Fprintf(os.Stderr, "tty-init: make stdin the controlling terminal: %v\n", err)
		return 126
	}
	prog, err := lookPath(args[0], os.Getenv("PATH"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "exec: %q: %v\n", args[0], err)
		return 127
	}
	err = syscall.Exec(prog, args, os.Environ())
	fmt.Fprintf(os.Stderr, "exec: %q: %v\n", args[0], err)
	return 126
}

// lookPath finds a program as execvp does, without os/exec's refusal of
// relative results.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("executable file not found in $PATH")
}

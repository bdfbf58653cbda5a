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

// Terminals. LXC's foreground start (lxc-start -F without a console)
// gives the container's init lxc-start's own stdio, and LXC calls
// setsid() in the init right before executing it without ever giving it a
// controlling terminal, without which ^C, ^Z and SIGWINCH never reach the
// program. Only the session leader itself can take a controlling
// terminal (TIOCSCTTY), and a terminal made on the host's devpts is no
// /dev/pts/<n> inside the container (ttyname, tty, ssh and sudo fail).
//
// So in terminal mode the init first executes a tiny init of ours, this
// very binary bind-mounted into the container's /dev, before the program:
//
//   - Create, once LXC set the container up (the gate), makes the terminal
//     in the container's own devpts, through /proc/<init>/root/dev/ptmx,
//     and keeps its master as the supervisor's console;
//   - Start writes the terminal's number on the tiny init's stdin, a pipe;
//   - the tiny init opens /dev/pts/<n>, makes it its stdio and controlling
//     terminal and executes the program, which stays pid 1 (as Docker
//     1.7's lxc driver did with /.dockerinit).
//
// The binary must be static, since the container's image has no libc for
// it: the Makefile builds exec-lxc with CGO_ENABLED=0, and a dynamic
// binary (a test binary, say) does not declare Capabilities.Tty.

// helperPath is where the binary is bind-mounted in every container, as
// the tiny init in terminal mode and as the exec helper (exec.go). /dev is
// LXC's autodev tmpfs, so nothing is left in the container's filesystem.
const helperPath = "/dev/.pluggd-init"

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

// openContainerPty makes a pseudo-terminal in the devpts instance of the
// container whose init is pid, sized width×height when both are set, and
// returns its master and number.
func openContainerPty(pid int, width, height uint16) (*os.File, int, error) {
	ptmx := "/proc/" + strconv.Itoa(pid) + "/root/dev/ptmx"
	m, err := os.OpenFile(ptmx, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open a terminal in the container: %w", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, 0, fmt.Errorf("unlock the container's terminal: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, 0, fmt.Errorf("name the container's terminal: %w", err)
	}
	if width > 0 && height > 0 {
		unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: width, Row: height})
	}
	return m, int(n), nil
}

// TTYInit is the body of "<binary> tty-init <program> <args>..." run as
// the container's init: it reads its terminal's number on stdin, opens
// /dev/pts/<n> as its stdio and controlling terminal, and executes the
// program in its place, looked up in the container's PATH. It returns
// only on failure, with the exit status Docker used for a program that
// cannot run.
func TTYInit(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "tty-init: no program")
		return 127
	}
	// One byte at a time: nothing past the line may be consumed.
	var line []byte
	for b := make([]byte, 1); len(line) < 16; {
		if n, err := os.Stdin.Read(b); n == 0 || err != nil || b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	n, err := strconv.Atoi(string(line))
	if err != nil {
		fmt.Fprintf(os.Stderr, "tty-init: no terminal number on stdin (%q)\n", line)
		return 126
	}
	tty, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tty-init: open /dev/pts/%d: %v\n", n, err)
		return 126
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup2(tty, fd); err != nil {
			fmt.Fprintf(os.Stderr, "tty-init: %v\n", err)
			return 126
		}
	}
	if tty > 2 {
		unix.Close(tty)
	}
	// LXC made this process a session leader; steal nothing (arg 0).
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		fmt.Fprintf(os.Stderr, "tty-init: make the terminal the controlling terminal: %v\n", err)
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
		path = defaultPath
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("executable file not found in $PATH")
}

package lxc

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/errdefs"
)

// LXC's tools this driver runs. They come from Debian's lxc package; the
// driver uses them rather than liblxc's Go bindings so that the plugin
// stays a pure-Go build (no cgo, no liblxc-dev) and does exactly what an
// operator can reproduce by hand.
const (
	lxcStart  = "lxc-start"
	lxcAttach = "lxc-attach"
)

// Version returns LXC's version as lxc-start --version prints it
// ("5.0.2"), keeping what follows a ':' as Docker 1.7 did for older
// tools' "lxc version: 1.0.7". It is a NotImplemented error naming the
// missing tool when LXC is not installed.
func Version(ctx context.Context) (string, error) {
	path, err := osexec.LookPath(lxcStart)
	if err != nil {
		return "", errdefs.NotImplemented(fmt.Errorf("the lxc exec driver needs LXC's tools (Debian package lxc): %w", err))
	}
	out, err := osexec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", errdefs.System(fmt.Errorf("%s --version: %w", path, err))
	}
	v := strings.TrimSpace(string(out))
	if _, after, ok := strings.Cut(v, ":"); ok {
		v = strings.TrimSpace(after)
	}
	if v == "" {
		return "", errdefs.System(fmt.Errorf("%s --version printed nothing", path))
	}
	return v, nil
}

// DriverName is /info's ExecutionDriver for an LXC version, Docker 1.7's
// "lxc-<version>".
func DriverName(version string) string { return "lxc-" + version }

// HostInfo describes this machine for Config.
func HostInfo() Host {
	return Host{
		// cgroup.controllers at the top of /sys/fs/cgroup exists only
		// in unified mode; a hybrid host (v2 at .../unified) is v1 for
		// limits, and LXC writes lxc.cgroup.* there.
		CgroupV2: fileExists("/sys/fs/cgroup/cgroup.controllers"),
		IsDir: func(p string) bool {
			fi, err := os.Stat(p)
			return err == nil && fi.IsDir()
		},
		Device:            deviceNumbers,
		NoAppArmorProfile: appArmorEnabled() && !lxcProfileLoaded(),
	}
}

// appArmorEnabled is LXC's own test (/sys/module/apparmor/parameters/enabled).
func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

// lxcProfileLoaded reports whether LXC's default container profile
// (lxc-container-default, or its -cgns variant) is loaded; without
// securityfs mounted nothing can be known, and it counts as not loaded.
func lxcProfileLoaded() bool {
	b, err := os.ReadFile("/sys/kernel/security/apparmor/profiles")
	return err == nil && strings.Contains(string(b), "lxc-container-default")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func deviceNumbers(path string) (byte, uint32, uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, 0, err
	}
	var typ byte
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = 'c'
	case unix.S_IFBLK:
		typ = 'b'
	default:
		return 0, 0, 0, errors.New("not a device node")
	}
	return typ, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)), nil
}

// StartCommand is the command that runs a container in the foreground
// with lxc-start -F, its program (args, after "--") being the container's
// init itself, pid 1 in its namespace as under the native driver and
// Docker 1.7's lxc driver. LXC's monitor (this command) stays the parent
// of that init (with SIGKILL as its parent-death signal, set by LXC),
// forwards it every signal but SIGKILL and SIGSTOP, and exits 0 whatever
// the program's status (LXC 5.0.2): the status is in LXC's log, which
// ExitFromLog reads.
//
// root is the LXC path (-P) under which LXC keeps the container's runtime
// files; config is the file Config wrote, starting with LogConfig's
// lines. -q keeps LXC's own messages off stderr, which is the
// container's. -C closes the descriptors lxc-start inherited beyond stdio
// (whatever the daemon, the plugin and the supervisor were given without
// close-on-exec), which in the foreground it would otherwise pass on to
// the container's init.
func StartCommand(id, root, config string, args []string) *osexec.Cmd {
	a := []string{"-F", "-q", "-C", "-n", id, "-P", root, "-f", config, "--"}
	return osexec.Command(lxcStart, append(a, args...)...)
}

// LogConfig is the start of a container's configuration: LXC's log goes
// to logFile, at INFO so that the exit status is there (ExitFromLog).
// It is set here rather than with lxc-start's -o and -l, with which LXC
// 5.0.2's monitor writes errors on its stderr despite -q, and that
// stderr is the container's: each lxc-attach (docker exec) made it print
// 'Unsupported config key "lxc.seccomp"' into the container's log. First
// in the file, so that errors in the lines after it are logged too.
func LogConfig(logFile string) string {
	return "lxc.log.file = " + logFile + "\nlxc.log.level = INFO\n"
}

// AttachCommand is the command that runs args in the running container
// id, whose LXC path (-P) is root, with lxc-attach: in every namespace of
// the container's init, in its cgroups, under its LSM profile and with
// its capabilities (its bounding set), or with every capability when
// privileged (--elevated-privileges=CAP: lxc-attach's own, those of root
// on the host). The process runs as root with an empty environment
// (--clear-env; LXC adds container=lxc), in /. lxc-attach waits for it
// and exits with its exit code.
func AttachCommand(id, root string, privileged bool, args []string) *osexec.Cmd {
	a := []string{"-n", id, "-P", root, "--clear-env", "-u", "0", "-g", "0"}
	if privileged {
		a = append(a, "--elevated-privileges=CAP")
	}
	a = append(a, "--")
	return osexec.Command(lxcAttach, append(a, args...)...)
}

// ExitFromLog finds the exit status of the container's init (host pid
// pid) in LXC's log: LXC logs "Child <pid> ended on error (N)" for a
// non-zero exit and "Child <pid> ended on signal NAME(N)" for a signal
// (lxc_error_set_and_log), and nothing for exit 0. found is false when
// neither line is there.
func ExitFromLog(log []byte, pid int) (code int, found bool) {
	prefix := "Child <" + strconv.Itoa(pid) + "> ended on "
	for _, l := range strings.Split(string(log), "\n") {
		_, rest, ok := strings.Cut(l, prefix)
		if !ok {
			continue
		}
		open, close := strings.LastIndexByte(rest, '('), strings.LastIndexByte(rest, ')')
		if open < 0 || close < open {
			continue
		}
		n, err := strconv.Atoi(rest[open+1 : close])
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "error "):
			code, found = n, true
		case strings.HasPrefix(rest, "signal "):
			code, found = 128+n, true
		}
	}
	return code, found
}

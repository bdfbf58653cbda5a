package lxc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// docker exec. LXC's own tool for running a process in a container is
// lxc-attach, and it does most of the work: it enters every namespace of
// the container's init, puts the process in the container's cgroups,
// applies its LSM profile and bounds its capabilities as the init's
// (AttachCommand). What it lacks, the helper does: the binary this
// driver binds into every container at /dev/.pluggd-init (tty.go), run by
// lxc-attach as "exec-helper". The supervisor and the helper talk over a
// unix socket that lxc-attach passes on as fd 3:
//
//  1. The helper, as root in the container, makes itself a session
//     leader and says it is ready; the kernel tells the supervisor its
//     pid in the host's pid namespace (SCM_CREDENTIALS).
//  2. The supervisor completes what lxc-attach leaves out: the unified
//     cgroup (LXC puts attached processes in a ".lxc" child there) and the
//     init's rlimits (lxc.prlimit, which lxc-attach does not apply).
//  3. The supervisor kills lxc-attach, whose work is done. The helper is
//     reparented to the supervisor, a child subreaper, which thus reaps
//     the program itself and records its true status (lxc-attach exits 0
//     for a program killed by a signal), and whose pid it reports is the
//     program's, not lxc-attach's.
//  4. The supervisor sends the process (execHelperConfig) and closes its
//     side; the helper takes its terminal or stdio, user and groups,
//     working directory, looks the program up in its PATH and executes
//     it with exactly its environment. The socket is close-on-exec: the
//     supervisor reads end-of-file once the program runs, or the reason
//     it cannot.
//
// By hand, "lxc-attach -n <id> -P <dir>/lxc --clear-env -- <program>"
// runs a program as an exec does, less what the helper adds.

// ExecHelperArg makes the binary the exec helper: "<binary> exec-helper",
// run by lxc-attach in the container (ExecHelper).
const ExecHelperArg = "exec-helper"

// The helper's file descriptors: the control socket, then (without a
// terminal) the process's stdin, stdout and stderr, which lxc-attach
// passes on untouched; its own stdio carries only LXC's messages.
const (
	helperCtlFd   = 3
	helperStdioFd = 4
)

// execHelperConfig is what the supervisor sends the exec helper once the
// helper runs in the container.
type execHelperConfig struct {
	Args     []string
	Env      []string
	UID, GID int
	Groups   []int
	Cwd      string
	// Tty is the number of the process's terminal in the container's
	// devpts, -1 without one (the stdio is then on fds 4, 5 and 6).
	Tty int
}

// attachTimeout bounds how long Exec waits for lxc-attach to get the
// helper running in the container.
const attachTimeout = 30 * time.Second

var _ supervisor.RuntimeExecer = (*Runtime)(nil)

// Exec runs spec.Process in the container through lxc-attach and the
// helper (above). It checks first what it can from the host, in the
// container's root as its init sees it (/proc/<init>/root): the user, the
// working directory and the program, so that these are InvalidParameter
// errors with Docker's messages; the helper reports the rest (a program
// that cannot be executed) before anything runs. Created.Pid is the
// program, reparented to the supervisor.
func (r *Runtime) Exec(ctx context.Context, spec exec.ExecSpec, stdio supervisor.Stdio) (supervisor.Created, error) {
	if r.initPid == 0 {
		return supervisor.Created{}, errdefs.Conflict(errors.New("container was not created"))
	}
	if !r.helperBound {
		return supervisor.Created{}, errdefs.NotImplemented(errors.New("the lxc exec driver runs exec processes only in containers given its helper, which needs a static binary (built with CGO_ENABLED=0)"))
	}
	cfg, err := r.execConfig(spec.Process)
	if err != nil {
		return supervisor.Created{}, err
	}
	var files []*os.File
	var console *os.File
	if stdio.Terminal {
		// As for the init (tty.go): a terminal of the container's own
		// devpts, which the helper opens as /dev/pts/<n>.
		if console, cfg.Tty, err = openContainerPty(r.initPid, stdio.Width, stdio.Height); err != nil {
			return supervisor.Created{}, err
		}
	} else {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return supervisor.Created{}, err
		}
		defer null.Close()
		for _, f := range []*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr} {
			if f == nil {
				f = null
			}
			files = append(files, f)
		}
	}
	pid, err := r.attach(ctx, spec.Privileged, cfg, files)
	if err != nil {
		if console != nil {
			console.Close()
		}
		return supervisor.Created{}, err
	}
	return supervisor.Created{Pid: pid, Console: console}, nil
}

// execConfig resolves p in the container: user and groups, HOME and PATH
// as for the init when p's environment lacks them, and checks the working
// directory ("" is "/") and the program.
func (r *Runtime) execConfig(p exec.Process) (execHelperConfig, error) {
	if len(p.Args) == 0 {
		return execHelperConfig{}, errdefs.InvalidParameter(errors.New("no command specified"))
	}
	root := "/proc/" + strconv.Itoa(r.initPid) + "/root"
	u, err := lookupUser(root, p.User)
	if err != nil {
		return execHelperConfig{}, err
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return execHelperConfig{}, errdefs.InvalidParameter(fmt.Errorf("working directory %q is not absolute", cwd))
	}
	if d, err := securejoin.SecureJoin(root, cwd); err != nil {
		return execHelperConfig{}, errdefs.InvalidParameter(fmt.Errorf("working directory %q: %w", cwd, err))
	} else if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		return execHelperConfig{}, errdefs.InvalidParameter(fmt.Errorf("working directory %q is not a directory in the container", cwd))
	}
	env := withDefault(withDefault(p.Env, "PATH", defaultPath), "HOME", u.Home)
	if err := findProgram(root, p.Args[0], cwd, env); err != nil {
		return execHelperConfig{}, err
	}
	return execHelperConfig{Args: p.Args, Env: env, UID: u.Uid, GID: u.Gid, Groups: u.Sgids, Cwd: cwd, Tty: -1}, nil
}

// attach starts the helper in the container with lxc-attach, completes
// its setting up, hands it cfg and returns its pid once it executed the
// program. stdio (no terminal) are the process's stdin, stdout and
// stderr. On error nothing is left running; what is left to reap, the
// supervisor reaps.
func (r *Runtime) attach(ctx context.Context, privileged bool, cfg execHelperConfig, stdio []*os.File) (int, error) {
	ctl, theirs, err := helperSocket()
	if err != nil {
		return 0, err
	}
	defer ctl.Close()
	msgs, err := memFile("lxc-attach")
	if err != nil {
		theirs.Close()
		return 0, err
	}
	defer msgs.Close()
	cmd := AttachCommand(r.spec.ID, r.path(lxcPathDir), privileged, []string{helperPath, ExecHelperArg})
	cmd.Stderr = msgs
	cmd.ExtraFiles = append([]*os.File{theirs}, stdio...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = r.thread.Do(cmd.Start)
	theirs.Close()
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", lxcAttach, err)
	}
	a := &lxcAttachRun{cmd: cmd, msgs: msgs}
	ctl.SetDeadline(time.Now().Add(attachTimeout))
	defer context.AfterFunc(ctx, func() { ctl.SetDeadline(time.Unix(1, 0)) })()

	// 1. The helper is ready, as root in the container; its pid.
	pid, err := readReady(ctl)
	if err != nil {
		return 0, a.abort(err)
	}
	a.helper = pid
	// 2. What lxc-attach leaves out.
	if err := joinCgroupsOf(pid, r.initPid); err != nil {
		return 0, a.abort(err)
	}
	if err := copyRlimits(r.initPid, pid); err != nil {
		return 0, a.abort(err)
	}
	// 3. The helper becomes the supervisor's child.
	a.stop()
	if ppid, err := parentOf(pid); err != nil || ppid != os.Getpid() {
		return 0, a.abort(fmt.Errorf("the exec helper (pid %d) was not reparented to the supervisor (parent %d, %v): is it a child subreaper?", pid, ppid, err))
	}
	// 4. The process; end-of-file once the program runs.
	b, err := json.Marshal(cfg)
	if err != nil {
		return 0, a.abort(err)
	}
	if _, err := ctl.Write(b); err != nil {
		return 0, a.abort(fmt.Errorf("send the exec helper its process: %w", err))
	}
	ctl.CloseWrite()
	reply, err := io.ReadAll(io.LimitReader(ctl, 4096))
	if err != nil {
		return 0, a.abort(fmt.Errorf("wait for the exec helper: %w", err))
	}
	if len(reply) > 0 {
		// The helper exits by itself; the supervisor reaps it.
		return 0, a.abort(errdefs.InvalidParameter(errors.New(string(reply))))
	}
	return pid, nil
}

// lxcAttachRun is one lxc-attach started by attach.
type lxcAttachRun struct {
	cmd    *osexec.Cmd
	msgs   *os.File // lxc-attach's stderr
	helper int      // the helper's host pid, once it said it is ready
	done   bool     // lxc-attach was reaped
}

// stop kills lxc-attach and reaps it (the supervisor reaps nothing while
// Exec runs): once the helper is set up, lxc-attach has nothing left to
// do but wait for it.
func (a *lxcAttachRun) stop() {
	if a.done {
		return
	}
	a.cmd.Process.Kill()
	a.cmd.Wait()
	a.done = true
}

// abort kills the helper if it is known and lxc-attach, and returns err
// with what lxc-attach said, if anything. The helper, killed, is reaped
// by the supervisor (its own child by now, or lxc-attach's, reaped with
// it).
func (a *lxcAttachRun) abort(err error) error {
	if a.helper > 0 {
		unix.Kill(a.helper, unix.SIGKILL)
	}
	a.stop()
	if errdefs.IsInvalidParameter(err) {
		return err
	}
	b := make([]byte, 2048)
	n, _ := a.msgs.ReadAt(b, 0)
	if msg := strings.Join(strings.Fields(string(b[:n])), " "); msg != "" {
		return fmt.Errorf("%w; %s said: %s", err, lxcAttach, msg)
	}
	return err
}

// helperSocket makes the control socket: ours, on which the kernel
// attaches the sender's credentials to what it receives, and theirs, for
// lxc-attach to pass on to the helper as fd 3.
func helperSocket() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("exec helper socket: %w", err)
	}
	theirs := os.NewFile(uintptr(fds[1]), "exec-helper")
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fds[0])
		theirs.Close()
		return nil, nil, fmt.Errorf("exec helper socket: %w", err)
	}
	f := os.NewFile(uintptr(fds[0]), "exec-helper-ctl")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		theirs.Close()
		return nil, nil, fmt.Errorf("exec helper socket: %w", err)
	}
	return c.(*net.UnixConn), theirs, nil
}

// readReady reads the helper's "ready" byte and returns the helper's pid
// in this process's pid namespace, which the kernel attached. Anything
// else is the reason the helper could not start.
func readReady(ctl *net.UnixConn) (int, error) {
	b := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	n, oobn, _, _, err := ctl.ReadMsgUnix(b, oob)
	if n == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("lxc-attach ended before the exec helper ran")
		}
		return 0, fmt.Errorf("exec: %w", err)
	}
	if b[0] != 'r' {
		rest, _ := io.ReadAll(io.LimitReader(ctl, 4096))
		return 0, fmt.Errorf("exec helper: %s", append(b, rest...))
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return 0, fmt.Errorf("exec helper: no credentials with its ready message (%v)", err)
	}
	cred, err := unix.ParseUnixCredentials(&msgs[0])
	if err != nil || cred.Pid <= 0 {
		return 0, fmt.Errorf("exec helper: bad credentials with its ready message (%v)", err)
	}
	return int(cred.Pid), nil
}

// memFile is an anonymous file, for a child's output read afterwards.
func memFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// joinCgroupsOf moves process pid into each cgroup of process ref it is
// not in. lxc-attach puts the process in the container's cgroups but, on
// the unified hierarchy, in a ".lxc" child of the container's (LXC's
// answer to cgroup v2's rule that only leaves hold processes, which does
// not bind a cgroup without controllers enabled for its children, as the
// container's is).
func joinCgroupsOf(pid, ref int) error {
	want, err := cgroups.ParseCgroupFile("/proc/" + strconv.Itoa(ref) + "/cgroup")
	if err != nil {
		return fmt.Errorf("the container's cgroups: %w", err)
	}
	have, err := cgroups.ParseCgroupFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return fmt.Errorf("the exec process's cgroups: %w", err)
	}
	for key, path := range want {
		if have[key] == path {
			continue
		}
		var mnt string
		if cgroups.IsCgroup2UnifiedMode() {
			mnt = "/sys/fs/cgroup"
		} else if mnt, err = cgroups.FindCgroupMountpoint("", key); err != nil {
			return fmt.Errorf("the %q cgroup hierarchy: %w", key, err)
		}
		if err := cgroups.WriteCgroupProc(filepath.Join(mnt, path), pid); err != nil {
			return fmt.Errorf("put the exec process in the container's cgroup %s: %w", filepath.Join(mnt, path), err)
		}
	}
	return nil
}

// copyRlimits gives process pid the resource limits of process ref:
// lxc-attach does not apply the container's lxc.prlimit.* (the spec's
// Rlimits, LxcConf), which LXC set on the init. They are read from
// /proc/<ref>/limits: prlimit(2) on a process of another user (an init
// running as nobody) needs CAP_SYS_RESOURCE, which the supervisor may
// lack.
func copyRlimits(ref, pid int) error {
	want, err := readRlimits(ref)
	if err != nil {
		return fmt.Errorf("the container's resource limits: %w", err)
	}
	for res, lim := range want {
		var have unix.Rlimit
		if err := unix.Prlimit(pid, res, nil, &have); err == nil && have == lim {
			continue
		}
		if err := unix.Prlimit(pid, res, &lim, nil); err != nil {
			return fmt.Errorf("set resource limit %d of the exec process as the container's (%d:%d): %w", res, lim.Cur, lim.Max, err)
		}
	}
	return nil
}

// readRlimits parses /proc/<pid>/limits: a header, then one line per
// resource in the order of their numbers, "%-25s %-20s %-20s" of name,
// soft and hard limit ("unlimited" or a number) and the unit.
func readRlimits(pid int) ([]unix.Rlimit, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var lims []unix.Rlimit
	for _, l := range lines[min(1, len(lines)):] {
		if len(l) < 67 {
			return nil, fmt.Errorf("/proc/%d/limits: bad line %q", pid, l)
		}
		var lim unix.Rlimit
		for i, v := range []*uint64{&lim.Cur, &lim.Max} {
			f := strings.TrimSpace(l[26+21*i : 46+21*i])
			if f == "unlimited" {
				*v = unix.RLIM_INFINITY
			} else if *v, err = strconv.ParseUint(f, 10, 64); err != nil {
				return nil, fmt.Errorf("/proc/%d/limits: bad line %q", pid, l)
			}
		}
		lims = append(lims, lim)
	}
	return lims, nil
}

// parentOf returns the parent of process pid (PPid in its status).
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no PPid in /proc/%d/status", pid)
}

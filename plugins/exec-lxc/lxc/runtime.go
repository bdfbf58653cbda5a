package lxc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Files of a container in its directory (the supervisor's state directory).
const (
	confFile    = "lxc.conf" // what Config wrote, plus the gate hook
	gateFile    = "gate"     // fifo the start-host hook reads until Start
	hookFile    = "gate-hook"
	stopHook    = "stop-hook" // saves the OOM counter before LXC removes the cgroups
	oomFile     = "oom"       // what the stop hook saved
	initPidFile = "init.pid"  // the container's init, as the hook saw it
	logFile     = "lxc.log"
	lxcPathDir  = "lxc" // LXC's -P: its runtime files for the container
)

// createTimeout bounds how long Create waits for LXC to set the container
// up (namespaces, mounts, cgroups) and reach the gate.
const createTimeout = 30 * time.Second

// Runtime is the supervisor.Runtime of the LXC driver: it runs in the
// supervisor process and makes the container with lxc-start -F.
//
// The gate: LXC runs the configuration's lxc.hook.start-host on the host
// once the container's init exists in its namespaces and before that init
// executes the program, and waits for the hook to return. The hook this
// Runtime installs records the init's host pid (LXC_PID) and blocks
// reading a fifo in the container's directory; Start writes a line to the
// fifo. Nothing is needed inside the container's image.
//
// The process tree is supervisor → lxc-start (LXC's monitor, with SIGKILL
// as parent-death signal) → the container's init, which becomes the
// program (pid 1 in its namespace; SIGKILL as parent-death signal towards
// the monitor, set by LXC). The supervisor can only wait for its own
// children, so the pid it signals and reaps (Created.Pid) is lxc-start's,
// and the one it reports (Created.ContainerPid) the program's. LXC's
// monitor forwards every signal but SIGKILL and SIGSTOP to the program;
// SIGKILL kills the monitor and, through the parent-death signal, the
// container. The monitor exits 0 whatever the program's status, which
// Exited reads from LXC's log (ExitFromLog).
type Runtime struct {
	dir  string
	spec exec.ContainerSpec
	host Host

	// thread forks what must die with the supervisor: every libcontainer
	// or process-starting call goes through it (see ForkThread).
	thread *supervisor.ForkThread

	// Helper is the static binary bind-mounted into the container at
	// /dev/.pluggd-init: its tiny init in terminal mode (tty.go) and the
	// exec helper (exec.go); "" when there is none, and then Create
	// refuses terminals and Exec refuses to run anything.
	Helper string
	// helperBound: Create bound Helper into this container.
	helperBound bool

	monitor int              // lxc-start, a child of the supervisor
	initPid int              // the container's init in the host pid namespace
	initExe supervisor.ExeID // what the init runs before the gate opens (lxc-start)

	// In terminal mode: the pipe on which Start tells the tiny init the
	// number of its terminal in the container's devpts.
	ttyCtl *os.File
	ttyNum int
}

var _ supervisor.Runtime = (*Runtime)(nil)

// NewRuntime returns the Runtime of the container spec whose directory
// (the supervisor's state directory) is dir. dir must be absolute and
// hold no white space or quote: it is written into LXC's configuration
// and a shell script.
func NewRuntime(dir string, spec exec.ContainerSpec, host Host) (*Runtime, error) {
	if !filepath.IsAbs(dir) || strings.ContainsAny(dir, " \t\n\r'\"\\$`") {
		return nil, errdefs.InvalidParameter(fmt.Errorf("lxc: container directory %q must be absolute, without white space or quotes", dir))
	}
	r := &Runtime{dir: dir, spec: spec, host: host, thread: supervisor.NewForkThread()}
	return r, nil
}

// InitPid is the container's init in the host pid namespace, once Create
// succeeded.
func (r *Runtime) InitPid() int { return r.initPid }

func (r *Runtime) path(name string) string { return filepath.Join(r.dir, name) }

// Create writes the LXC configuration with the gate hook, starts
// lxc-start and returns once the container's init waits at the gate.
func (r *Runtime) Create(ctx context.Context, stdio supervisor.Stdio) (supervisor.Created, error) {
	spec := r.spec
	if len(spec.Process.Args) == 0 {
		return supervisor.Created{}, errdefs.InvalidParameter(errors.New("no command specified"))
	}
	if stdio.Terminal && r.Helper == "" {
		return supervisor.Created{}, errdefs.NotImplemented(errors.New("the lxc exec driver gives containers a terminal only when its binary is static (built with CGO_ENABLED=0)"))
	}
	spec, err := resolveUser(spec)
	if err != nil {
		return supervisor.Created{}, err
	}
	if err := lookProgram(spec); err != nil {
		return supervisor.Created{}, err
	}
	spec.SharedNamespaces = hostNamespacesAsSelf(spec.SharedNamespaces)
	if spec.ReadonlyRootfs {
		if err := makeMountpoints(spec); err != nil {
			return supervisor.Created{}, err
		}
	}
	conf, err := Config(spec, r.host)
	if err != nil {
		return supervisor.Created{}, err
	}
	conf = LogConfig(r.path(logFile)) + conf
	conf += "# pluggd's gate: the program waits until Start\n"
	conf += "lxc.hook.start-host = " + r.path(hookFile) + "\n"
	if r.Helper != "" {
		// In every container, not only terminal ones: exec needs it too.
		// /dev is LXC's autodev tmpfs, so nothing lands in the
		// container's layer, read-only or not.
		conf += "# pluggd's helper: tiny init of terminal containers, exec helper\n"
		conf += fmt.Sprintf("lxc.mount.entry = %s %s none bind,ro,create=file 0 0\n", escape(r.Helper), rel(helperPath))
	}
	// LXC removes the container's cgroups as it stops, before lxc-start
	// exits, so Exited could not read the OOM kill counter there: the
	// stop hook, which LXC runs first, copies it.
	if oom := oomCounterFile(spec); oom != "" && !strings.ContainsAny(oom, "'\n") {
		conf += "lxc.hook.stop = " + r.path(stopHook) + "\n"
		script := fmt.Sprintf("#!/bin/sh\ncat '%s' > '%[2]s.tmp' 2>/dev/null && mv '%[2]s.tmp' '%[2]s'\nexit 0\n", oom, r.path(oomFile))
		if err := os.WriteFile(r.path(stopHook), []byte(script), 0o700); err != nil {
			return supervisor.Created{}, err
		}
	}
	// The hook opens the fifo read-write first (that does not block, and
	// lets Start's non-blocking open find a reader as soon as the pid is
	// recorded), records the init's pid (LXC_PID) and waits for a line:
	// "go" from Start lets LXC run the program; anything else (Destroy
	// releasing a container never started) fails the hook, and LXC then
	// stops the container.
	hook := fmt.Sprintf("#!/bin/sh\nexec 3<>'%[2]s' && echo \"$LXC_PID\" > '%[1]s.tmp' && mv '%[1]s.tmp' '%[1]s' && read line <&3 && [ \"$line\" = go ]\n",
		r.path(initPidFile), r.path(gateFile))
	for _, name := range []string{initPidFile, gateFile, logFile, oomFile} {
		os.Remove(r.path(name))
	}
	if err := os.WriteFile(r.path(confFile), []byte(conf), 0o600); err != nil {
		return supervisor.Created{}, err
	}
	if err := os.WriteFile(r.path(hookFile), []byte(hook), 0o700); err != nil {
		return supervisor.Created{}, err
	}
	// LXC keeps the container's runtime files under -P, which must exist.
	if err := os.MkdirAll(r.path(lxcPathDir), 0o700); err != nil {
		return supervisor.Created{}, err
	}
	if err := unix.Mkfifo(r.path(gateFile), 0o600); err != nil {
		return supervisor.Created{}, fmt.Errorf("make the gate fifo: %w", err)
	}

	args := spec.Process.Args
	var console *os.File
	if stdio.Terminal {
		// See tty.go: the init runs our tiny init first, which reads the
		// number of the terminal made below on its stdin (a pipe from
		// here), opens it and makes it its stdio and controlling
		// terminal.
		ctlR, ctlW, err := os.Pipe()
		if err != nil {
			r.cleanup()
			return supervisor.Created{}, err
		}
		defer ctlR.Close()
		r.ttyCtl = ctlW
		stdio.Stdin, stdio.Stdout, stdio.Stderr = ctlR, nil, nil
		args = append([]string{helperPath, TTYInitArg}, args...)
	}
	fail := func(err error) (supervisor.Created, error) {
		if console != nil {
			console.Close()
		}
		return supervisor.Created{}, err
	}
	cmd := StartCommand(spec.ID, r.path(lxcPathDir), r.path(confFile), args)
	// nil *os.File must stay a nil io.Reader/Writer (then /dev/null).
	if stdio.Stdin != nil {
		cmd.Stdin = stdio.Stdin
	}
	if stdio.Stdout != nil {
		cmd.Stdout = stdio.Stdout
	}
	if stdio.Stderr != nil {
		cmd.Stderr = stdio.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.thread.Do(cmd.Start); err != nil {
		r.cleanup()
		return fail(fmt.Errorf("start lxc-start: %w", err))
	}
	r.monitor = cmd.Process.Pid
	pid, err := r.waitGate(ctx)
	if err != nil {
		r.abort()
		return fail(err)
	}
	r.initPid = pid
	r.helperBound = r.Helper != ""
	// Until the gate opens the init is a fork of lxc-start; Start knows
	// the program runs once it executes something else.
	if r.initExe, err = supervisor.Executable(pid); err != nil {
		r.abort()
		return fail(fmt.Errorf("lxc: the container's init (pid %d) is gone before Start: %s", pid, r.logErrors()))
	}
	if stdio.Terminal {
		// The container's devpts exists now: the terminal is made in it,
		// so that inside it is /dev/pts/<n> as under the native driver.
		m, n, err := openContainerPty(pid, stdio.Width, stdio.Height)
		if err != nil {
			r.abort()
			return fail(err)
		}
		console, r.ttyNum = m, n
	}
	r.watchMonitor()
	return supervisor.Created{Pid: r.monitor, ContainerPid: pid, Console: console}, nil
}

// hostNamespacesAsSelf names the host's namespaces by this process's
// (the supervisor runs in the host's namespaces, as the daemon does)
// rather than by pid 1's, which Config would write: LXC opens
// /proc/<pid>/ns/<kind>, and pid 1's may be unreadable even to root (it
// is on this project's CI VM: "Permission denied - Failed to record
// inherited namespaces").
func hostNamespacesAsSelf(shared map[string]string) map[string]string {
	if len(shared) == 0 {
		return shared
	}
	out := make(map[string]string, len(shared))
	for kind, v := range shared {
		if v == "host" {
			v = fmt.Sprintf("/proc/%d/ns/%s", os.Getpid(), kind)
		}
		out[kind] = v
	}
	return out
}

// waitGate waits until the hook recorded the init's pid, which it does
// right before blocking on the gate. The supervisor reaps nothing while
// Create runs, so the monitor dying first is seen here.
func (r *Runtime) waitGate(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	delay := time.Millisecond
	for {
		if b, err := os.ReadFile(r.path(initPidFile)); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("lxc: the gate hook recorded a bad init pid %q", b)
			}
			return pid, nil
		}
		var ws unix.WaitStatus
		if pid, _ := unix.Wait4(r.monitor, &ws, unix.WNOHANG, nil); pid == r.monitor {
			r.monitor = 0
			return 0, fmt.Errorf("lxc-start exited (status %#x) before the container was created: %s", uint32(ws), r.logErrors())
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("lxc: the container did not reach the gate: %w; %s", ctx.Err(), r.logErrors())
		case <-time.After(delay):
		}
		if delay < 20*time.Millisecond {
			delay *= 2
		}
	}
}

// logErrors returns LXC's ERROR lines from the container's log, for an
// error message.
func (r *Runtime) logErrors() string {
	b, _ := os.ReadFile(r.path(logFile))
	var errs []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, " ERROR ") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) == 0 {
		return "no error in LXC's log " + r.path(logFile)
	}
	if len(errs) > 5 {
		errs = errs[len(errs)-5:]
	}
	return "LXC's log: " + strings.Join(errs, "; ")
}

// abort undoes a Create that failed after lxc-start started: it kills
// and reaps the monitor (the supervisor reaps nothing while Create runs)
// and cleans up, so nothing is left behind.
func (r *Runtime) abort() {
	if r.monitor > 0 {
		unix.Kill(r.monitor, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(r.monitor, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		r.monitor = 0
	}
	r.cleanup()
}

// Start opens the gate ("go" on the fifo) and returns once the program
// runs: the init has executed it (its executable is no longer
// lxc-start's), or it is already gone.
func (r *Runtime) Start(ctx context.Context) error {
	if r.initPid == 0 {
		return errdefs.Conflict(errors.New("container was not created"))
	}
	if r.ttyCtl != nil {
		// Written before the gate opens; the pipe holds it.
		_, err := fmt.Fprintf(r.ttyCtl, "%d\n", r.ttyNum)
		r.ttyCtl.Close()
		r.ttyCtl = nil
		if err != nil {
			return fmt.Errorf("tell the container its terminal: %w", err)
		}
	}
	f, err := os.OpenFile(r.path(gateFile), os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open the gate: %w", err)
	}
	_, err = f.Write([]byte("go\n"))
	f.Close()
	if err != nil {
		return fmt.Errorf("open the gate: %w", err)
	}
	return supervisor.WaitExecuted(ctx, r.initPid, r.initExe)
}

// Exited returns the program's status. lxc-start exits 0 after a
// container ran, whatever its init's status, which is then in LXC's log;
// a status lxc-start did not exit 0 with (killed with the container by
// SIGKILL: 137; LXC failing: 1) is kept as it is. A program killed by
// SIGKILL while the memory cgroup counted an OOM kill was OOM-killed, as
// Docker reported it (the counter as the stop hook saved it).
func (r *Runtime) Exited(ctx context.Context, status exec.ExitStatus) exec.ExitStatus {
	if status.Code == 0 && r.initPid != 0 {
		log, _ := os.ReadFile(r.path(logFile))
		if code, ok := ExitFromLog(log, r.initPid); ok {
			status.Code = code
		}
	}
	if status.Code == 128+int(unix.SIGKILL) {
		b, _ := os.ReadFile(r.path(oomFile))
		for _, l := range strings.Split(string(b), "\n") {
			if n, ok := strings.CutPrefix(l, "oom_kill "); ok && strings.TrimSpace(n) != "0" {
				status.OOMKilled = true
			}
		}
	}
	return status
}

// Destroy releases what the container held once lxc-start exited: the
// gate (so a hook still blocked on it, orphaned when the monitor was
// killed, exits), any process left in the container's cgroups, the
// cgroups and LXC's runtime files. lxc-stop cannot be used here: it talks
// to the monitor, which is gone by now.
func (r *Runtime) Destroy(ctx context.Context) error {
	return r.cleanup()
}

func (r *Runtime) cleanup() error {
	if r.ttyCtl != nil {
		r.ttyCtl.Close() // the tiny init, if it ever runs, then exits
		r.ttyCtl = nil
	}
	releaseGate(r.path(gateFile))
	err := removeCgroupDirs(r.cgroupDirs())
	os.RemoveAll(r.path(lxcPathDir))
	for _, name := range []string{gateFile, initPidFile} {
		os.Remove(r.path(name))
	}
	return err
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// releaseGate tells a hook still waiting at the gate to fail. Without a
// reader there is nothing to release (the open fails with ENXIO).
func releaseGate(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
		f.Write([]byte("stop\n"))
		f.Close()
	}
}

// cgroupDirs are the container's and its monitor's cgroup directories in
// every mounted hierarchy (Config names them lxc.cgroup.dir.*).
func (r *Runtime) cgroupDirs() []string {
	parent := strings.Trim(r.spec.CgroupParent, "/")
	if parent == "" {
		parent = defaultCgroupParent
	}
	var dirs []string
	for _, root := range cgroupRoots() {
		dirs = append(dirs,
			filepath.Join(root, parent, r.spec.ID),
			filepath.Join(root, parent, "lxc.monitor."+r.spec.ID))
	}
	return dirs
}

// cgroupRoots lists the mount points of the cgroup hierarchies.
func cgroupRoots() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var roots []string
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, pf := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(pf) < 1 {
			continue
		}
		if pf[0] == "cgroup" || pf[0] == "cgroup2" {
			roots = append(roots, f[4])
		}
	}
	return roots
}

// watchMonitor ends the container as soon as LXC's monitor, lxc-start,
// is gone, killing what is left in its cgroups. LXC gives the init
// SIGKILL as parent-death signal, but the kernel clears that when the
// init changes its credentials (lxc.init.uid: a container whose user is
// not root), and such an init outlived a killed monitor until Destroy,
// holding its output open, for which the supervisor waits 2 s first; its
// exec processes lived on with it. A pidfd tells of the monitor's exit
// without reaping it (the supervisor does); it is opened here, in Create,
// while the supervisor reaps nothing, so that the pid cannot be another
// process's yet. Without pidfds (Linux < 5.3) the container ends at
// Destroy, as before. The goroutine ends with the monitor.
func (r *Runtime) watchMonitor() {
	fd, err := unix.PidfdOpen(r.monitor, 0)
	if err != nil {
		return
	}
	dirs := r.cgroupDirs()
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, -1)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n != 1 || fds[0].Revents&unix.POLLIN == 0 {
				return // cannot tell: leave it to Destroy
			}
			break
		}
		for _, d := range cgroupTree(dirs) {
			killProcs(d)
		}
	}()
}

// cgroupTree lists the cgroup directories dirs and their descendants,
// parents first.
func cgroupTree(dirs []string) []string {
	var all []string
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
	}
	return all
}

// removeCgroups kills whatever is left in dirs and removes them, children
// first; a cgroup whose last process is still exiting refuses rmdir
// (EBUSY) for a moment, so it is tried for up to 2 s.
func removeCgroupDirs(dirs []string) error {
	all := cgroupTree(dirs)
	deadline := time.Now().Add(2 * time.Second)
	var errs []error
	for i := len(all) - 1; i >= 0; i-- { // WalkDir lists parents first
		d := all[i]
		for {
			killProcs(d)
			err := unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

func killProcs(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil && pid > 0 {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// lookProgram checks that the program exists and is executable in the
// container's rootfs, as runc's init does before waiting, so that a
// missing program fails Create with Docker's message (findProgram).
func lookProgram(spec exec.ContainerSpec) error {
	return findProgram(spec.Rootfs, spec.Process.Args[0], spec.Process.Cwd, spec.Process.Env)
}

// findProgram checks that program name exists and is executable in the
// root filesystem at root, as the process would find it: a bare name in
// env's PATH (Docker 1.7's default without one), a relative path from
// cwd. Symlinks are resolved inside root. The error is Docker's
// ("exec: \"nosuch\": executable file not found in $PATH"), of class
// InvalidParameter.
func findProgram(root, name, cwd string, env []string) error {
	var candidates []string
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			if cwd == "" {
				cwd = "/"
			}
			p = filepath.Join(cwd, p)
		}
		candidates = []string{p}
	} else {
		path := defaultPath
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				path = v
			}
		}
		for _, d := range filepath.SplitList(path) {
			if filepath.IsAbs(d) {
				candidates = append(candidates, filepath.Join(d, name))
			}
		}
	}
	for _, c := range candidates {
		p, err := securejoin.SecureJoin(root, c)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return nil
		}
	}
	if strings.Contains(name, "/") {
		return errdefs.InvalidParameter(fmt.Errorf("exec: %q: stat %s: no such file or directory", name, name))
	}
	return errdefs.InvalidParameter(fmt.Errorf("exec: %q: executable file not found in $PATH", name))
}

// oomCounterFile is the container's cgroup file holding the kernel's OOM
// kill counter ("oom_kill N"): memory.oom_control on cgroup v1,
// memory.events on v2; "" when there is no memory controller.
func oomCounterFile(spec exec.ContainerSpec) string {
	m, err := cgroupManager(spec)
	if err != nil {
		return ""
	}
	paths := m.GetPaths()
	if p := paths["memory"]; p != "" {
		return filepath.Join(p, "memory.oom_control")
	}
	if p := paths[""]; p != "" && HostInfo().CgroupV2 {
		return filepath.Join(p, "memory.events")
	}
	return ""
}

// makeMountpoints creates in a read-only container's rootfs (still
// writable from here: it is the storage driver's layer) the mount points
// its mounts need. LXC mounts the rootfs read-only before the mount
// entries, so their create=dir/create=file could not make them there, as
// libcontainer does before it remounts the rootfs read-only. Paths are
// resolved inside the rootfs.
func makeMountpoints(spec exec.ContainerSpec) error {
	for _, m := range spec.Mounts {
		p, err := securejoin.SecureJoin(spec.Rootfs, m.Destination)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		isDir := true
		if m.Type == "" || m.Type == "bind" {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				isDir = false
			}
		}
		if isDir {
			err = os.MkdirAll(p, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("make the mount point of %s in the read-only rootfs: %w", m.Destination, err)
		}
	}
	return nil
}

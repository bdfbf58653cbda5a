package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"
)

// daemon is one pluggd process under test.
type daemon struct {
	t       *testing.T
	dir     string // everything of this daemon lives below it
	root    string
	sock    string
	pidfile string
	cmd     *exec.Cmd
	args    []string // the command line of start, for restart
	logs    *syncBuffer
	exited  chan struct{}
}

// startDaemon runs bin/pluggd on a fresh root and socket and waits until it
// answers /_ping. Extra flags are appended to the command line.
func startDaemon(t *testing.T, extra ...string) *daemon {
	t.Helper()
	// Unix socket paths are limited to 108 bytes, and t.TempDir can be
	// long; a short private directory keeps the socket path well inside.
	dir, err := os.MkdirTemp("", "pluggd-e2e")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{
		t:       t,
		dir:     dir,
		root:    filepath.Join(dir, "root"),
		sock:    filepath.Join(dir, "pluggd.sock"),
		pidfile: filepath.Join(dir, "pluggd.pid"),
		logs:    &syncBuffer{},
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cleanup() })
	d.start(append([]string{"--config", cfg}, extra...)...)
	return d
}

func (d *daemon) start(extra ...string) {
	d.t.Helper()
	args := append([]string{
		"-H", "unix://" + d.sock,
		"-g", d.root,
		"--exec-root", filepath.Join(d.dir, "exec"),
		"-p", d.pidfile,
		"-D",
	}, extra...)
	d.args = extra
	d.cmd = exec.Command(filepath.Join(binDir, "pluggd"), args...)
	d.cmd.Stdout = d.logs
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func(cmd *exec.Cmd, ch chan struct{}) { _ = cmd.Wait(); close(ch) }(d.cmd, d.exited)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-d.exited:
			d.t.Fatalf("pluggd exited during start:\n%s", d.logs.String())
		default:
		}
		if resp, err := d.httpClient().Get("http://pluggd/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("pluggd did not answer /_ping within 20s:\n%s", d.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restart starts the daemon again on the same root, socket and flags,
// after stop or kill.
func (d *daemon) restart() {
	d.t.Helper()
	d.start(d.args...)
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		d.t.Errorf("pluggd did not stop within 20s of SIGTERM:\n%s", d.logs.String())
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.exited
}

func (d *daemon) cleanup() {
	// Containers outlive the daemon by design: remove them through the
	// API while it runs, and kill whatever is left afterwards.
	if d.cmd != nil && d.cmd.Process != nil && d.alive() {
		code, body := d.rawQuiet("GET", "/v1.19/containers/json?all=1")
		if code == 200 {
			var list []struct{ Id string }
			_ = json.Unmarshal([]byte(body), &list)
			for _, c := range list {
				d.rawQuiet("DELETE", "/v1.19/containers/"+c.Id+"?force=1")
			}
		}
	}
	plugins := d.pluginPids()
	if d.cmd != nil && d.cmd.Process != nil {
		select {
		case <-d.exited:
		default:
			d.stop()
		}
	}
	// Plugins must go with the daemon; kill any straggler so one failing
	// test does not leak processes into the next.
	for _, pid := range plugins {
		if !waitGone(pid, 5*time.Second) {
			d.t.Errorf("plugin %d still running 5s after the daemon stopped", pid)
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	killSupervisorsBelow(d.dir)
	unmountBelow(d.dir)
	removeContainerCgroups(d.root)
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", d.logs.String())
	}
	_ = os.RemoveAll(d.dir)
}

// alive reports whether the daemon process still runs.
func (d *daemon) alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// rawQuiet is raw for cleanups: no test failure on transport errors.
func (d *daemon) rawQuiet(method, path string) (int, string) {
	req, err := http.NewRequest(method, "http://pluggd"+path, nil)
	if err != nil {
		return 0, ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := d.httpClient().Do(req.WithContext(ctx))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *daemon) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.sock)
		},
	}}
}

// goClient is the official Go client pinned to API 1.19.
func (d *daemon) goClient() *client.Client {
	d.t.Helper()
	c, err := client.NewClientWithOpts(client.WithHost("unix://"+d.sock), client.WithVersion("1.19"))
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { c.Close() })
	return c
}

// raw does one HTTP request and returns status, body and headers.
func (d *daemon) raw(method, path string, body io.Reader) (int, string, http.Header) {
	d.t.Helper()
	req, err := http.NewRequest(method, "http://pluggd"+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := d.httpClient().Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// docker runs the docker CLI against the daemon and returns its stdout and
// stderr together, for checks on error messages. apiVersion "" lets the CLI
// negotiate through /_ping.
func (d *daemon) docker(apiVersion string, stdin []byte, args ...string) (string, error) {
	d.t.Helper()
	stdout, stderr, err := d.dockerSplit(apiVersion, stdin, args...)
	return stdout + stderr, err
}

// dockerSplit runs the docker CLI and returns stdout and stderr apart.
func (d *daemon) dockerSplit(apiVersion string, stdin []byte, args ...string) (string, string, error) {
	d.t.Helper()
	cmd := exec.Command("docker", append([]string{"-H", "unix://" + d.sock}, args...)...)
	cmd.Env = d.cliEnv(apiVersion)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// cliEnv is the docker CLI's environment: its own config directory, and
// DOCKER_API_VERSION when apiVersion is not "" (else it negotiates).
func (d *daemon) cliEnv(apiVersion string) []string {
	env := append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.dir, "docker-config"))
	env = filterEnv(env, "DOCKER_HOST", "DOCKER_API_VERSION", "DOCKER_CONTEXT")
	if apiVersion != "" {
		env = append(env, "DOCKER_API_VERSION="+apiVersion)
	}
	return env
}

// mustDocker runs the docker CLI, fails the test on error, and returns
// its stdout (ids and listings must not pick up warnings from stderr).
func (d *daemon) mustDocker(apiVersion string, stdin []byte, args ...string) string {
	d.t.Helper()
	stdout, stderr, err := d.dockerSplit(apiVersion, stdin, args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	if stderr != "" {
		d.t.Logf("docker %s wrote to stderr: %s", strings.Join(args, " "), stderr)
	}
	return stdout
}

// storagePid returns the pid of the daemon's storage plugin.
func (d *daemon) storagePid() int {
	d.t.Helper()
	return d.pluginPid("storage-overlay")
}

// waitStoragePid waits for a storage plugin whose pid is not old.
func (d *daemon) waitStoragePid(old int) int {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if pid := d.pluginPidOrZero("storage-overlay"); pid != 0 && pid != old {
			return pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("no relaunched storage plugin after 15s (old pid %d)\n%s", old, d.logs.String())
	return 0
}

// pluginPid returns the pid of the daemon's plugin named name
// ("exec-native"), failing the test when there is none.
func (d *daemon) pluginPid(name string) int {
	d.t.Helper()
	if pid := d.pluginPidOrZero(name); pid != 0 {
		return pid
	}
	d.t.Fatalf("no %s plugin process\n%s", name, d.logs.String())
	return 0
}

func (d *daemon) pluginPidOrZero(name string) int {
	for _, pid := range d.pluginPids() {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); filepath.Base(exe) == name {
			return pid
		}
	}
	return 0
}

// pluginPids lists the daemon's plugin processes: its children whose
// executable lives in binDir.
func (d *daemon) pluginPids() []int {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || parentPid(pid) != d.cmd.Process.Pid {
			continue
		}
		if isPlugin(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isPlugin reports whether pid runs a plugin binary from binDir.
func isPlugin(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && filepath.Dir(exe) == binDir && filepath.Base(exe) != "pluggd"
}

// waitGone waits up to timeout for pid to stop running a plugin binary.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !isPlugin(pid) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return !isPlugin(pid)
}

func parentPid(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// killSupervisorsBelow SIGKILLs every process whose command line names a
// path below dir: container supervisors keep their state there, and their
// containers die with them (parent-death signal).
func killSupervisorsBelow(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmdline, []byte(dir+"/")) {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	time.Sleep(100 * time.Millisecond)
}

// removeContainerCgroups removes the cgroups of this daemon's containers
// (named after their ids, and LXC's monitor cgroups lxc.monitor.<id>) in
// every hierarchy, deepest first.
func removeContainerCgroups(root string) {
	entries, _ := os.ReadDir(filepath.Join(root, "containers"))
	if len(entries) == 0 {
		return
	}
	ids := map[string]bool{}
	for _, e := range entries {
		ids[e.Name()] = true
	}
	var dirs []string
	filepath.WalkDir("/sys/fs/cgroup", func(p string, de os.DirEntry, err error) error {
		if err != nil || !de.IsDir() {
			return nil
		}
		if base := filepath.Base(p); ids[base] || ids[strings.TrimPrefix(base, "lxc.monitor.")] {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
}

// unmountBelow lazily unmounts every mount point under dir, deepest first.
func unmountBelow(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = unix.Unmount(points[i], unix.MNT_DETACH)
	}
}

func filterEnv(env []string, drop ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		keep := true
		for _, k := range drop {
			if strings.HasPrefix(kv, k+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// syncBuffer collects the daemon's output from its goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

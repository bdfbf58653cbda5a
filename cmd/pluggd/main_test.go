package main

import (
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

	"github.com/pluggd/pluggd/test/require"

	"github.com/docker/docker/client"

	"github.com/pluggd/pluggd/core/daemon"
)

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run([]string{"--version"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), daemon.Version) || !strings.Contains(out.String(), "1.19") {
		t.Fatalf("output %q", out.String())
	}
}

func TestBadConfigExits(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("[storage]\ndirver = \"overlay\"\n"), 0o644)
	var errOut bytes.Buffer
	if code := run([]string{"--config", p}, io.Discard, &errOut); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), p+`:2: key "storage.dirver": unknown key`) {
		t.Fatalf("stderr %q", errOut.String())
	}
}

// binDir returns a directory holding pluggd and the default plugins
// (storage-overlay, exec-native; a missing one stops the daemon):
// PLUGGD_BIN when set (make test), else a fresh build.
func binDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("PLUGGD_BIN"); d != "" {
		return d
	}
	if testing.Short() {
		t.Skip("builds the binaries; not in -short")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pluggd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtDir = dir
		for pkg, out := range map[string]string{"../../cmd/pluggd": "pluggd", "../../plugins/storage-overlay": "storage-overlay", "../../plugins/exec-native": "exec-native"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtDir
}

// Built once per test binary and shared by the tests that need it; the
// directory is removed with the process's temp files by TestMain.
var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

type daemonProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
	sock   string
}

func startDaemon(t *testing.T, bin string, args ...string) *daemonProc {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "pluggd"), args...)
	cmd.Stderr = &syncWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, stderr: &stderr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	})
	return p
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// waitReady polls /_ping until the daemon answers, or fails with its
// output if it exits first.
func waitReady(t *testing.T, p *daemonProc, sock string) *http.Client {
	t.Helper()
	c := unixClient(sock)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("daemon exited (%v) before serving:\n%s", err, p.stderr)
		default:
		}
		if resp, err := c.Get("http://pluggd/_ping"); err == nil {
			resp.Body.Close()
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("daemon not ready:\n%s", p.stderr)
	return nil
}

func TestDaemonServesAndRefusesSecondOnSameRoot(t *testing.T) {
	require.Overlay(t)
	bin := binDir(t)
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	sock := filepath.Join(tmp, "a.sock")
	pidfile := filepath.Join(tmp, "a.pid")
	first := startDaemon(t, bin, "-g", root, "--exec-root", filepath.Join(tmp, "exec"), "-H", "unix://"+sock, "-p", pidfile, "-D")
	c := waitReady(t, first, sock)

	resp, err := c.Get("http://pluggd/v1.19/info")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != 200 || info["Driver"] != "overlay" || info["DockerRootDir"] != root || info["ID"] == "" {
		t.Fatalf("/info %d %v", resp.StatusCode, info)
	}
	if resp.Header.Get("API-Version") != "1.19" {
		t.Errorf("headers %v", resp.Header)
	}

	// The official Go client, pinned to 1.19, understands the answers.
	dc, err := client.NewClientWithOpts(client.WithHost("unix://"+sock), client.WithVersion("1.19"))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	ctx := context.Background()
	if p, err := dc.Ping(ctx); err != nil || p.APIVersion != "1.19" || p.OSType != "linux" {
		t.Errorf("Ping: %+v %v", p, err)
	}
	if v, err := dc.ServerVersion(ctx); err != nil || v.Version != daemon.DockerVersion || v.APIVersion != "1.19" {
		t.Errorf("ServerVersion: %+v %v", v, err)
	}
	if i, err := dc.Info(ctx); err != nil || i.Driver != "overlay" || i.ID != info["ID"] {
		t.Errorf("Info: %+v %v", i, err)
	}

	// Second daemon: same root, its own pidfile and socket.
	second := exec.Command(filepath.Join(bin, "pluggd"), "-g", root, "--exec-root", filepath.Join(tmp, "exec2"),
		"-H", "unix://"+filepath.Join(tmp, "b.sock"), "-p", filepath.Join(tmp, "b.pid"))
	out, err := second.CombinedOutput()
	if err == nil {
		t.Fatalf("second daemon started:\n%s", out)
	}
	want := fmt.Sprintf("pluggd is already running on root %s (pid %d)", root, first.cmd.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Fatalf("second daemon said:\n%s\nwant %q", out, want)
	}
	// The refusal left the first daemon's pidfile alone.
	if b, _ := os.ReadFile(pidfile); strings.TrimSpace(string(b)) != strconv.Itoa(first.cmd.Process.Pid) {
		t.Fatalf("pidfile says %q", b)
	}

	// SIGTERM: clean exit, socket and pidfile gone.
	first.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-first.done:
		first.done <- err
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, first.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	for _, p := range []string{sock, pidfile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind", p)
		}
	}
}

// A storage driver that cannot start stops the daemon with its reason and
// a non-zero exit, and leaves the root unlocked.
func TestStorageDriverThatCannotStartStopsTheDaemon(t *testing.T) {
	bin := binDir(t)
	tmp := t.TempDir()
	args := []string{"-g", filepath.Join(tmp, "root"), "--exec-root", filepath.Join(tmp, "exec"),
		"-H", "unix://" + filepath.Join(tmp, "s.sock"), "-p", filepath.Join(tmp, "p.pid"), "-s", "nosuchdriver"}
	for i := 0; i < 2; i++ {
		cmd := exec.Command(filepath.Join(bin, "pluggd"), args...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("run %d: err %v\n%s", i, err, out)
		}
		if !strings.Contains(string(out), "nosuchdriver") || strings.Contains(string(out), "already running") {
			t.Fatalf("run %d said:\n%s", i, out)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "p.pid")); !os.IsNotExist(err) {
		t.Error("pidfile left behind")
	}
}

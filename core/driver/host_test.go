package driver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	storageplugin "github.com/pluggd/pluggd/core/driver/storage/plugin"
	"github.com/pluggd/pluggd/core/driver/storage/plugin/plugintest"
	storagev1 "github.com/pluggd/pluggd/core/driver/storage/plugin/proto"
	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/grpc"
)

// The test binary doubles as the plugin binaries and the fake daemon:
// TestMain looks at this variable to decide what it is.
const roleEnv = "PLUGGD_DRIVER_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "fake":
		storageplugin.Serve(plugintest.New)
	case "fake-nofd":
		// A plugin that does not know the fd channel (an older glue,
		// another language): it ignores the offer.
		os.Unsetenv(pluginrpc.FDChannelEnv)
		storageplugin.Serve(plugintest.New)
	case "noisy":
		go func() {
			// After Serve has reserved stdout.
			time.Sleep(300 * time.Millisecond)
			fmt.Println("late noise on os.Stdout")
			syscall.Write(1, []byte("late noise on fd 1\n"))
		}()
		storageplugin.Serve(noisyFactory)
	case "v2":
		serveOtherVersion(2, 0, 2)
	case "app-v2":
		serveOtherVersion(storage.ProtocolMajor, 2, 0)
	case "daemon":
		fakeDaemon()
	case "exec-fake", "exec-v2", "exec-v1.0", "exec-daemon":
		serveExecRole(os.Getenv(roleEnv))
	default:
		fmt.Fprintln(os.Stderr, "unknown role", os.Getenv(roleEnv))
		os.Exit(2)
	}
}

// noisyFactory writes to every output a careless library might use.
func noisyFactory(ctx context.Context, opts storage.InitOptions) (storage.Driver, error) {
	fmt.Println("noise on os.Stdout")
	syscall.Write(1, []byte("noise on fd 1\n"))
	fmt.Fprintln(os.Stderr, "stderr-line-from-plugin")
	slog.Warn("slog-line-from-plugin", "answer", 42)
	return plugintest.New(ctx, opts)
}

// serveOtherVersion is a plugin built against another contract version:
// goPluginMajor at go-plugin's handshake, major.minor in the negotiation.
func serveOtherVersion(goPluginMajor, major, minor int) {
	stderr, err := pluginrpc.ReserveStdout()
	if err != nil {
		os.Exit(1)
	}
	log := pluginrpc.NewPluginLogger(stderr, slog.LevelInfo)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: pluginrpc.Handshake(goPluginMajor),
		VersionedPlugins: map[int]plugin.PluginSet{
			goPluginMajor: {pluginrpc.KindStorage: &otherVersionPlugin{major: major, minor: minor, log: log}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
	os.Exit(0)
}

type otherVersionPlugin struct {
	storageplugin.GRPCPlugin
	major, minor int
	log          *slog.Logger
}

func (p *otherVersionPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	storagev1.RegisterStorageServer(s, storageplugin.NewServer(plugintest.New))
	pluginrpc.RegisterNegotiation(s, pluginrpc.Announcement{Kind: pluginrpc.KindStorage, Version: pluginrpc.Version{Major: p.major, Minor: p.minor}}, p.log)
	return nil
}

// fakeDaemon starts the fake plugin through a Host, prints its pid and
// waits to be killed.
func fakeDaemon() {
	h := NewHost(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	dir := os.Getenv("PLUGGD_TEST_DIR")
	os.Setenv(roleEnv, "fake")
	s, err := h.StartStorage(context.Background(), StorageConfig{Name: "fake", Binary: os.Args[0], Home: filepath.Join(dir, "home")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(s.Pid())
	select {}
}

// capture is a slog handler that keeps records for assertions.
type capture struct {
	mu      sync.Mutex
	records []string
	attrs   []slog.Attr
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range c.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	c.mu.Lock()
	c.records = append(c.records, b.String())
	c.mu.Unlock()
	return nil
}
func (c *capture) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureView{c: c, attrs: append(append([]slog.Attr(nil), c.attrs...), as...)}
}
func (c *capture) WithGroup(string) slog.Handler { return c }

func (c *capture) find(substr ...string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
next:
	for _, r := range c.records {
		for _, s := range substr {
			if !strings.Contains(r, s) {
				continue next
			}
		}
		return r
	}
	return ""
}

type captureView struct {
	c     *capture
	attrs []slog.Attr
}

func (v *captureView) Enabled(context.Context, slog.Level) bool { return true }
func (v *captureView) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(v.attrs...)
	return v.c.Handle(ctx, r)
}
func (v *captureView) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureView{c: v.c, attrs: append(append([]slog.Attr(nil), v.attrs...), as...)}
}
func (v *captureView) WithGroup(string) slog.Handler { return v }

type testHost struct {
	*Host
	logs *capture
}

func newTestHost(t *testing.T) testHost {
	t.Helper()
	logs := &capture{}
	h := NewHost(slog.New(logs))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return testHost{Host: h, logs: logs}
}

// startFake starts the test binary in the given role as a storage plugin.
func (h testHost) start(t *testing.T, role string, options ...string) (*Storage, error) {
	t.Helper()
	t.Setenv(roleEnv, role)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.StartStorage(ctx, StorageConfig{Name: "fake-" + role, Binary: bin, Home: filepath.Join(t.TempDir(), "home"), Options: options})
}

func (h testHost) mustStart(t *testing.T, role string) *Storage {
	t.Helper()
	s, err := h.start(t, role)
	if err != nil {
		t.Fatalf("StartStorage: %v", err)
	}
	return s
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie has exited; only its parent has not reaped it yet.
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartAndCall(t *testing.T) {
	h := newTestHost(t)
	s := h.mustStart(t, "fake")
	ctx := context.Background()
	info, _ := s.Info(ctx)
	if info.Name != "fake" || !info.Capabilities.ByteExactDiff {
		t.Fatalf("Info = %+v", info)
	}
	if err := s.Create(ctx, "a", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := s.Create(ctx, "a", "", storage.CreateOptions{})
	if !errors.Is(err, storage.ErrLayerExists) || !errdefs.IsConflict(err) {
		t.Fatalf("second Create: %v (%T), want ErrLayerExists", err, err)
	}
	if _, err := s.Get(ctx, "a", storage.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	err = s.Remove(ctx, "a")
	if !errors.Is(err, storage.ErrLayerInUse) || !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "layer a is mounted") {
		t.Fatalf("Remove of mounted layer: %v, want ErrLayerInUse with the driver's message", err)
	}
	err = s.Remove(ctx, "missing")
	if !errors.Is(err, storage.ErrLayerNotFound) || !errdefs.IsNotFound(err) {
		t.Fatalf("Remove(missing) = %v", err)
	}
	payload := make([]byte, 3*storage.ChunkSize+17)
	rand.Read(payload)
	n, err := s.ApplyDiff(ctx, "a", "", bytes.NewReader(payload))
	if err != nil || n != int64(len(payload)) {
		t.Fatalf("ApplyDiff = %d, %v", n, err)
	}
	rc, err := s.Diff(ctx, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("Diff returned %d bytes (err %v), want the %d applied", len(got), err, len(payload))
	}
	if _, err := s.Diff(ctx, "missing", ""); !errors.Is(err, storage.ErrLayerNotFound) {
		t.Fatalf("Diff(missing) = %v", err)
	}
}

func TestInitFailureLeavesNoProcess(t *testing.T) {
	h := newTestHost(t)
	_, err := h.start(t, "fake", "fail=overlay is not in /proc/filesystems")
	if err == nil {
		t.Fatal("StartStorage succeeded")
	}
	if !strings.Contains(err.Error(), "overlay is not in /proc/filesystems") || !errors.Is(err, storage.ErrNotSupported) {
		t.Fatalf("error %q lacks the plugin's reason or sentinel", err)
	}
	assertNoChildren(t)
}

// assertNoChildren checks that this process has no child left (the fake
// plugins are its only children).
func assertNoChildren(t *testing.T) {
	t.Helper()
	waitFor(t, 5*time.Second, "no child process", func() bool { return len(children(t)) == 0 })
}

func children(t *testing.T) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var out []int
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == self && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

func TestRelaunchAfterKillWhileIdle(t *testing.T) {
	h := newTestHost(t)
	s := h.mustStart(t, "fake")
	ctx := context.Background()
	if err := s.Create(ctx, "a", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a", storage.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	old := s.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a relaunched plugin", func() bool { p := s.Pid(); return p != 0 && p != old })
	if ok, err := s.Exists(ctx, "a"); err != nil || !ok {
		t.Fatalf("Exists after relaunch = %v, %v", ok, err)
	}
	// The Get taken before the crash was replayed, so this Put balances.
	if err := s.Put(ctx, "a"); err != nil {
		t.Fatalf("Put after relaunch: %v", err)
	}
	if h.logs.find("storage plugin exited", "plugin=fake-fake") == "" || h.logs.find("relaunched", "plugin=fake-fake") == "" {
		t.Errorf("exit and relaunch not logged: %q", h.logs.records)
	}

	// A read-only call made right after the kill, before the host saw the
	// exit, is retried on the relaunched process.
	old = s.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Exists(ctx, "a"); err != nil || !ok {
		t.Fatalf("Exists right after a kill = %v, %v", ok, err)
	}
}

// killingReader yields zeros forever and kills pid after `after` bytes.
type killingReader struct {
	pid, after int
	read       int
}

func (r *killingReader) Read(p []byte) (int, error) {
	if r.read < r.after && r.read+len(p) >= r.after {
		syscall.Kill(r.pid, syscall.SIGKILL)
	}
	clear(p)
	r.read += len(p)
	return len(p), nil
}

func TestKillDuringApplyDiff(t *testing.T) {
	h := newTestHost(t)
	s := h.mustStart(t, "fake")
	ctx := context.Background()
	if err := s.Create(ctx, "big", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	old := s.Pid()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := s.ApplyDiff(ctx, "big", "", &killingReader{pid: old, after: 20 << 20})
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ApplyDiff still running 10s after its plugin was killed")
	}
	if !errors.Is(err, ErrUnavailable) || !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), `"fake-fake"`) {
		t.Fatalf("ApplyDiff = %v, want an Unavailable error naming the plugin", err)
	}
	t.Logf("ApplyDiff failed after %v: %v", time.Since(start).Round(time.Millisecond), err)

	if err := s.Create(ctx, "next", "", storage.CreateOptions{}); err != nil {
		t.Fatalf("Create after relaunch: %v", err)
	}
	payload := bytes.Repeat([]byte("pluggd"), 1<<20)
	n, err := s.ApplyDiff(ctx, "next", "", bytes.NewReader(payload))
	if err != nil || n != int64(len(payload)) {
		t.Fatalf("ApplyDiff after relaunch = %d, %v", n, err)
	}
	if s.Pid() == old {
		t.Fatal("pid did not change")
	}
}

func TestRelaunchFailureIsUnavailable(t *testing.T) {
	h := newTestHost(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "plugin")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(roleEnv, "fake")
	s, err := h.StartStorage(context.Background(), StorageConfig{Name: "doomed", Binary: bin, Home: filepath.Join(t.TempDir(), "home")})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Exists(context.Background(), "a")
	if !errors.Is(err, ErrUnavailable) || !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), `"doomed"`) {
		t.Fatalf("Exists with the plugin down = %v, want an Unavailable error naming the plugin", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	t.Logf("%v", err)
}

// startFakeDaemon runs the test binary as a fake daemon in role and
// returns it with the first line it printed. The daemon is killed at the
// end of the test.
func startFakeDaemon(t *testing.T, role string) (*exec.Cmd, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(self)
	daemon.Env = append(os.Environ(), roleEnv+"="+role, "PLUGGD_TEST_DIR="+t.TempDir())
	daemon.Stderr = testWriter{t}
	out, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.Process.Kill()
		daemon.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the fake daemon's first line: %v", err)
	}
	return daemon, line
}

// killFakeDaemon SIGKILLs the daemon and waits until pluginPid is gone.
func killFakeDaemon(t *testing.T, daemon *exec.Cmd, pluginPid int) {
	t.Helper()
	if err := daemon.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	daemon.Wait()
	killed := time.Now()
	waitFor(t, 5*time.Second, "the plugin to exit after its daemon was killed", func() bool { return !alive(pluginPid) })
	t.Logf("plugin exited %v after the daemon was killed", time.Since(killed).Round(time.Millisecond))
}

func TestDaemonKilledLeavesNoPlugin(t *testing.T) {
	daemon, line := startFakeDaemon(t, "daemon")
	pluginPid, err := strconv.Atoi(strings.TrimSpace(line))
	t.Cleanup(func() {
		if pluginPid > 0 && alive(pluginPid) {
			syscall.Kill(pluginPid, syscall.SIGKILL)
		}
	})
	if err != nil || !alive(pluginPid) {
		t.Fatalf("fake daemon printed %q (plugin alive: %v)", line, alive(pluginPid))
	}
	killFakeDaemon(t, daemon, pluginPid)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestStdoutCarriesOnlyHandshake runs a plugin that writes to os.Stdout and
// to fd 1 after starting and checks that its stdout holds exactly the
// handshake line and then ends.
func TestStdoutCarriesOnlyHandshake(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"=noisy",
		pluginrpc.MagicCookieKey+"="+pluginrpc.MagicCookieValue,
		fmt.Sprintf("PLUGIN_PROTOCOL_VERSIONS=%d", storage.ProtocolMajor))
	var stderr bytes.Buffer
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return stderr.Write(p) })
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	all := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(out); all <- b }()
	var got []byte
	select {
	case got = <-all:
	case <-time.After(10 * time.Second):
		t.Fatal("plugin's stdout did not end after the handshake")
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], fmt.Sprintf("%d|%d|unix|", plugin.CoreProtocolVersion, storage.ProtocolMajor)) || !strings.Contains(lines[0], "|grpc|") {
		t.Fatalf("stdout = %q, want only the handshake line", got)
	}
	waitFor(t, 5*time.Second, "the late fd 1 noise on stderr", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(stderr.String(), "late noise on fd 1")
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestPluginStderrReachesLogger(t *testing.T) {
	h := newTestHost(t)
	h.mustStart(t, "noisy")
	waitFor(t, 5*time.Second, "plugin lines in the log", func() bool {
		return h.logs.find("stderr-line-from-plugin", "plugin=fake-noisy") != "" &&
			h.logs.find("slog-line-from-plugin", "plugin=fake-noisy", "answer=42") != "" &&
			h.logs.find("noise on fd 1", "plugin=fake-noisy") != ""
	})
	if r := h.logs.find("noise on os.Stdout"); r != "" {
		t.Errorf("the plugin's stdout reached the log: %q", r)
	}
}

func TestVersionMismatchRefused(t *testing.T) {
	h := newTestHost(t)
	bin, _ := os.Executable()
	for role, want := range map[string]string{
		// go-plugin's handshake: another major.
		"v2": fmt.Sprintf("storage plugin %q speaks contract v2, this daemon speaks v%d", bin, storage.ProtocolMajor),
		// The negotiation: same go-plugin version, another contract.
		"app-v2": fmt.Sprintf("storage plugin %q speaks contract v2.0, this daemon speaks v%d.%d", bin, storage.ProtocolMajor, storage.ProtocolMinor),
	} {
		_, err := h.start(t, role)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: StartStorage = %v, want an error containing %q", role, err, want)
		}
		if err != nil && !errdefs.IsNotImplemented(err) {
			t.Errorf("%s: error class %v, want not implemented", role, errdefs.ClassOf(err))
		}
	}
	assertNoChildren(t)
}

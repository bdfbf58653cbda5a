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
	case "noisy":
		storageplugin.Serve(noisyFactory)
	case "v2":
		serveOtherVersion(2, 0, 2)
	case "app-v2":
		serveOtherVersion(storage.ProtocolMajor, 2, 0)
	case "daemon":
		fakeDaemon()
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

var _ = bufio.NewReader
var _ = exec.Command

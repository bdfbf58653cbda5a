package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/test/require"

	"github.com/pluggd/pluggd/core/driver"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/plugin"
	"github.com/pluggd/pluggd/core/driver/storage/storagetest"
	"github.com/pluggd/pluggd/plugins/storage-overlay/overlay"
)

// The overlay driver's conformance, run through the plugin glue: in
// process over the real gRPC code (TestConformanceGRPC), and as the built
// binary under the daemon's plugin Host (TestConformanceBinary). The run
// without the wire is overlay's own TestConformance.

func skipIfUnsupported(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, storage.ErrNotSupported) || errors.Is(err, storage.ErrIncompatibleFS) || errors.Is(err, storage.ErrPrerequisites) {
		require.SkipOrFail(t, "overlay", err.Error())
	}
}

func TestConformanceGRPC(t *testing.T) {
	require.Overlay(t)
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		home := filepath.Join(t.TempDir(), "overlay")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		c, err := plugin.NewInProcess(context.Background(), overlay.New, storage.InitOptions{Home: home, DaemonProtocolMinor: storage.ProtocolMinor})
		skipIfUnsupported(t, err)
		if err != nil {
			t.Fatalf("NewInProcess: %v", err)
		}
		t.Cleanup(func() {
			if err := c.Cleanup(context.Background()); err != nil {
				t.Errorf("Cleanup: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			assertNoMountsBelow(t, home)
		})
		return c
	})
}

func TestConformanceBinary(t *testing.T) {
	require.Overlay(t)
	bin := pluginBinary(t)
	host := driver.NewHost(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := host.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		return startOverlay(t, host, bin)
	})
}

// startOverlay starts one overlay plugin process for t under host and
// stops it in t's cleanup.
func startOverlay(t testing.TB, host *driver.Host, bin string) *driver.Storage {
	t.Helper()
	home := filepath.Join(t.TempDir(), "overlay")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := host.StartStorage(ctx, driver.StorageConfig{Name: "overlay", Binary: bin, Home: home})
	skipIfUnsupported(t, err)
	if err != nil {
		t.Fatalf("StartStorage: %v", err)
	}
	t.Cleanup(func() {
		// The process itself is the Host's: its Shutdown stops it.
		if err := s.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		assertNoMountsBelow(t, home)
	})
	return s
}

// pluginBinary returns the storage-overlay binary: $PLUGGD_BIN/storage-overlay
// when PLUGGD_BIN is set (make test), else one built for this test.
func pluginBinary(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("PLUGGD_BIN"); dir != "" {
		bin, err := filepath.Abs(filepath.Join(dir, "storage-overlay"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("PLUGGD_BIN is set but: %v", err)
		}
		return bin
	}
	bin := filepath.Join(t.TempDir(), "storage-overlay")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func assertNoMountsBelow(t testing.TB, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			t.Errorf("mount left below the driver's home: %s", f[4])
		}
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// BenchmarkRoundTrip measures one trivial call (Exists) from the daemon's
// Host to the built overlay plugin and back.
func BenchmarkRoundTrip(b *testing.B) {
	require.Overlay(b)
	s := benchStorage(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Exists(ctx, "0000000000000000000000000000000000000000000000000000000000000000"); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStorage(t testing.TB) *driver.Storage {
	t.Helper()
	host := driver.NewHost(slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := host.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return startOverlay(t, host, pluginBinary(t))
}

// TestRoundTripLatency prints p50/p99/max of Exists through the plugin
// binary: go test -run TestRoundTripLatency -v ./plugins/storage-overlay
// (PLUGGD_ROUNDTRIPS sets the number of calls).
func TestRoundTripLatency(t *testing.T) {
	require.Overlay(t)
	s := benchStorage(t)
	n := 20000
	if testing.Short() {
		n = 1000
	}
	if v := os.Getenv("PLUGGD_ROUNDTRIPS"); v != "" {
		fmt.Sscan(v, &n)
	}
	ctx := context.Background()
	for range 200 { // warm up connections and caches
		if _, err := s.Exists(ctx, "warmup"); err != nil {
			t.Fatal(err)
		}
	}
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if _, err := s.Exists(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		lat[i] = time.Since(start)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
	t.Logf("Exists round trip through the plugin binary, %d calls: p50=%v p99=%v max=%v", n, pct(0.50), pct(0.99), lat[len(lat)-1])
}

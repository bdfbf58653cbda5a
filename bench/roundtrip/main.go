// Command roundtrip measures the latency of a trivial storage call (Exists)
// through the storage plugin binary, as the daemon makes it, next to the
// same call on the driver loaded in-process: the difference is the price of
// running drivers out of process. Docker 1.7 had no such boundary, so the
// in-process call stands in for the reference.
//
//	go run ./bench/roundtrip -bin bin -n 20000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pluggd/pluggd/core/driver"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/plugins/storage-overlay/overlay"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding storage-overlay")
	n := flag.Int("n", 20000, "calls to time")
	flag.Parse()
	if err := run(*bin, *n); err != nil {
		fmt.Fprintln(os.Stderr, "roundtrip:", err)
		os.Exit(1)
	}
}

func run(bin string, n int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("/var/tmp", "pluggd-roundtrip")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	binary, err := filepath.Abs(filepath.Join(bin, "storage-overlay"))
	if err != nil {
		return err
	}
	host := driver.NewHost(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer host.Shutdown(ctx)
	plugged, err := host.StartStorage(ctx, driver.StorageConfig{Name: "overlay", Binary: binary, Home: filepath.Join(dir, "plugin", "overlay")})
	if err != nil {
		return err
	}
	inHome := filepath.Join(dir, "inproc", "overlay")
	if err := os.MkdirAll(inHome, 0o700); err != nil {
		return err
	}
	inproc, err := overlay.New(ctx, storage.InitOptions{Home: inHome, DaemonProtocolMinor: storage.ProtocolMinor})
	if err != nil {
		return err
	}
	defer inproc.Cleanup(ctx)

	for _, d := range []struct {
		name string
		drv  storage.Driver
	}{{"plugin (gRPC over unix socket)", plugged}, {"in-process", inproc}} {
		if err := d.drv.Create(ctx, "bench", "", storage.CreateOptions{}); err != nil {
			return err
		}
		lat, err := measure(ctx, d.drv, n)
		if err != nil {
			return err
		}
		fmt.Printf("Exists round trip, %-30s %d calls: p50=%v p99=%v max=%v\n", d.name, n, pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1])
	}
	return nil
}

func measure(ctx context.Context, d storage.Driver, n int) ([]time.Duration, error) {
	// A short warm-up so connection set-up and first-call costs do not
	// land in the percentiles.
	for range 200 {
		if _, err := d.Exists(ctx, "bench"); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		ok, err := d.Exists(ctx, "bench")
		lat[i] = time.Since(start)
		if err != nil || !ok {
			return nil, fmt.Errorf("Exists: %v %v", ok, err)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, nil
}

func pct(lat []time.Duration, p float64) time.Duration {
	return lat[int(float64(len(lat)-1)*p)].Round(time.Microsecond)
}

// Command layers times what a container's writable layer costs on each
// storage driver: Create (on a small image layer), Get (mount), writing a
// file of -size-mib and fsyncing it, and Diff against the image layer read
// to the end; Put and Remove are timed apart. Both drivers run as their
// plugin binaries under the daemon's plugin host, as pluggd runs them,
// interleaved run by run so that they share the machine's state.
//
// It needs a kernel with device-mapper and overlayfs; bench/layers.sh runs
// it in the run-in-vm guest.
//
//	layers -bin bin -dir /scratch -runs 5 -size-mib 100
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pluggd/pluggd/core/driver"
	"github.com/pluggd/pluggd/core/driver/storage"
)

// phases in the order they run; the first four make the total.
var phases = []string{"create", "mount", "write+fsync", "diff", "put+remove"}

const timedPhases = 4

func main() {
	bin := flag.String("bin", "bin", "directory holding storage-devmapper and storage-overlay")
	dir := flag.String("dir", "/var/tmp", "scratch directory (the driver homes go below it)")
	runs := flag.Int("runs", 5, "timed runs per driver")
	sizeMiB := flag.Int("size-mib", 100, "MiB written into each layer")
	dmOpts := flag.String("dm-opts", "dm.basesize=1G,dm.loopdatasize=4G,dm.loopmetadatasize=256M",
		"devicemapper storage options, comma-separated")
	flag.Parse()
	if err := run(*bin, *dir, *runs, int64(*sizeMiB)<<20, strings.Split(*dmOpts, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "layers:", err)
		os.Exit(1)
	}
}

type bench struct {
	name  string
	drv   storage.Driver
	times map[string][]time.Duration
}

func run(bin, dir string, runs int, size int64, dmOpts []string) error {
	ctx := context.Background()
	work, err := os.MkdirTemp(dir, "pluggd-layers")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	host := driver.NewHost(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer host.Shutdown(ctx)

	var benches []*bench
	for _, d := range []struct {
		name, plugin string
		opts         []string
	}{{"devicemapper", "storage-devmapper", dmOpts}, {"overlay", "storage-overlay", nil}} {
		binary, err := filepath.Abs(filepath.Join(bin, d.plugin))
		if err != nil {
			return err
		}
		start := time.Now()
		s, err := host.StartStorage(ctx, driver.StorageConfig{Name: d.name, Binary: binary,
			Home: filepath.Join(work, d.name), Options: d.opts})
		if err != nil {
			return fmt.Errorf("start %s: %w", d.name, err)
		}
		// Cleanup removes the devicemapper pool and its loop devices.
		defer s.Cleanup(ctx)
		fmt.Printf("%s started in %v (untimed; options %q)\n", d.name, time.Since(start).Round(time.Millisecond), d.opts)
		// The image the layers sit on: a few small files.
		if err := s.Create(ctx, "image", "", storage.CreateOptions{}); err != nil {
			return err
		}
		if _, err := s.ApplyDiff(ctx, "image", "", bytes.NewReader(imageTar())); err != nil {
			return fmt.Errorf("%s: image layer: %w", d.name, err)
		}
		benches = append(benches, &bench{name: d.name, drv: s, times: map[string][]time.Duration{}})
	}

	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	// Run 0 warms up (first mounts, page cache, module code) and is not
	// counted.
	for r := 0; r <= runs; r++ {
		for _, b := range benches {
			t, err := once(ctx, b.drv, fmt.Sprintf("layer%d", r), size, chunk)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", b.name, r, err)
			}
			if r == 0 {
				continue
			}
			for i, p := range phases {
				b.times[p] = append(b.times[p], t[i])
			}
			var total time.Duration
			for _, d := range t[:timedPhases] {
				total += d
			}
			b.times["total"] = append(b.times["total"], total)
		}
	}

	fmt.Printf("\nlayer create + mount + write %d MiB + diff, median of %d runs (each driver's plugin binary under the plugin host)\n", size>>20, runs)
	fmt.Printf("%-12s %14s %14s %10s\n", "phase", benches[0].name, benches[1].name, "ratio")
	for _, p := range append(append([]string{}, phases[:timedPhases]...), "total", phases[timedPhases]) {
		a, o := median(benches[0].times[p]), median(benches[1].times[p])
		fmt.Printf("%-12s %14v %14v %9.2fx\n", p, a.Round(time.Millisecond), o.Round(time.Millisecond), float64(a)/float64(o))
	}
	for _, b := range benches {
		fmt.Printf("%s totals:", b.name)
		for _, d := range b.times["total"] {
			fmt.Printf(" %v", d.Round(time.Millisecond))
		}
		fmt.Println()
	}
	return nil
}

// once runs the phases on a new layer id and returns their durations.
func once(ctx context.Context, d storage.Driver, id string, size int64, chunk []byte) ([]time.Duration, error) {
	var t []time.Duration
	lap := func() func() {
		start := time.Now()
		return func() { t = append(t, time.Since(start)) }
	}

	done := lap()
	if err := d.Create(ctx, id, "image", storage.CreateOptions{}); err != nil {
		return nil, err
	}
	done()

	done = lap()
	root, err := d.Get(ctx, id, storage.GetOptions{})
	if err != nil {
		return nil, err
	}
	done()

	done = lap()
	if err := writeFile(filepath.Join(root, "data"), size, chunk); err != nil {
		return nil, err
	}
	done()

	done = lap()
	rc, err := d.Diff(ctx, id, "image")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(io.Discard, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	if n < size {
		return nil, fmt.Errorf("diff of %d bytes for %d written", n, size)
	}
	done()

	done = lap()
	if err := d.Put(ctx, id); err != nil {
		return nil, err
	}
	if err := d.Remove(ctx, id); err != nil {
		return nil, err
	}
	done()
	return t, nil
}

func writeFile(path string, size int64, chunk []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for n := int64(0); n < size; n += int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), size-n)]); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func imageTar() []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, d := range []string{"bin/", "etc/", "tmp/"} {
		_ = tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir})
	}
	for i := range 20 {
		body := strings.Repeat("x", 1000*i)
		_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("etc/file%d", i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	return b.Bytes()
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

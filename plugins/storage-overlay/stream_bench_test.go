package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pluggd/pluggd/test/require"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/plugin"
	"github.com/pluggd/pluggd/plugins/storage-overlay/overlay"
	"github.com/pluggd/pluggd/test/busybox"
)

// Throughput of tar streams through each way of running the driver:
//
//	go test -run '^$' -bench 'ApplyDiff100MiB|Diff100MiB' -benchtime 5x ./plugins/storage-overlay
//
// "inprocess" is overlay without a wire (the reference), "grpc" the gRPC
// glue in process (plugin.NewInProcess), "binary" the built plugin under
// the daemon's Host, which is what an import goes through.

// benchDrivers returns the three ways of running overlay, each on a fresh
// home below dir.
func benchDrivers(b *testing.B) []struct {
	name string
	new  func(b *testing.B) storage.Driver
} {
	return []struct {
		name string
		new  func(b *testing.B) storage.Driver
	}{
		{"inprocess", func(b *testing.B) storage.Driver {
			home := benchHome(b)
			d, err := overlay.New(context.Background(), storage.InitOptions{Home: home, DaemonProtocolMinor: storage.ProtocolMinor})
			skipIfUnsupported(b, err)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Cleanup(context.Background()) })
			return d
		}},
		{"grpc", func(b *testing.B) storage.Driver {
			home := benchHome(b)
			c, err := plugin.NewInProcess(context.Background(), overlay.New, storage.InitOptions{Home: home, DaemonProtocolMinor: storage.ProtocolMinor})
			skipIfUnsupported(b, err)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				c.Cleanup(context.Background())
				c.Close()
			})
			return c
		}},
		{"binary", func(b *testing.B) storage.Driver { return benchStorage(b) }},
	}
}

// benchHome is a driver home on the disk (/var/tmp), as in bench/import.sh,
// not on a tmpfs.
func benchHome(b *testing.B) string {
	dir, err := os.MkdirTemp("/var/tmp", "pluggd-bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	home := filepath.Join(dir, "overlay")
	if err := os.Mkdir(home, 0o700); err != nil {
		b.Fatal(err)
	}
	return home
}

// benchTar writes the busybox rootfs with 100 MiB of padding to a file,
// so that generating it is not timed.
func benchTar(b *testing.B) (*os.File, int64) {
	b.Helper()
	f, err := os.CreateTemp("/var/tmp", "pluggd-bench-*.tar")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		f.Close()
		os.Remove(f.Name())
	})
	if err := busybox.Write(f, busybox.Options{Padding: 100 << 20}); err != nil {
		b.Skipf("busybox rootfs: %v", err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		b.Fatal(err)
	}
	return f, size
}

func BenchmarkApplyDiff100MiB(b *testing.B) {
	require.Overlay(b)
	tarFile, size := benchTar(b)
	for _, d := range benchDrivers(b) {
		b.Run(d.name, func(b *testing.B) {
			drv := d.new(b)
			ctx := context.Background()
			b.SetBytes(size)
			i := 0
			for b.Loop() {
				b.StopTimer()
				id := fmt.Sprintf("%064d", i)
				i++
				if err := drv.Create(ctx, id, "", storage.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := drv.ApplyDiff(ctx, id, "", io.NewSectionReader(tarFile, 0, size)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := drv.Remove(ctx, id); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

func BenchmarkDiff100MiB(b *testing.B) {
	require.Overlay(b)
	tarFile, size := benchTar(b)
	for _, d := range benchDrivers(b) {
		b.Run(d.name, func(b *testing.B) {
			drv := d.new(b)
			ctx := context.Background()
			id := fmt.Sprintf("%064d", 0)
			if err := drv.Create(ctx, id, "", storage.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			if _, err := drv.ApplyDiff(ctx, id, "", io.NewSectionReader(tarFile, 0, size)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			for b.Loop() {
				rc, err := drv.Diff(ctx, id, "")
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil || n != size {
					b.Fatalf("Diff read %d of %d bytes: %v", n, size, err)
				}
			}
		})
	}
}

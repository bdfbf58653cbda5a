package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/test/require"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/plugins/storage-overlay/overlay"
)

// Driver starts the overlay driver in-process with a fresh home and stops
// it when the test ends. Without root or kernel overlay support the test is
// skipped with the reason, or fails when PLUGGD_REQUIRE names root or
// overlay (CI); see test/require.
func Driver(t testing.TB) storage.Driver {
	t.Helper()
	require.Overlay(t)
	ctx := context.Background()
	d, err := overlay.New(ctx, storage.InitOptions{Home: t.TempDir()})
	if err != nil {
		if errdefs.IsNotImplemented(err) {
			require.SkipOrFail(t, "overlay", "overlay driver unavailable: "+err.Error())
		}
		t.Fatalf("overlay.New: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Cleanup(context.Background()); err != nil {
			t.Errorf("overlay Cleanup: %v", err)
		}
	})
	return d
}

// Tar returns an uncompressed tar holding files (path → content), in path
// order, with their parent directories.
func Tar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	for _, n := range names {
		parts := strings.Split(n, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

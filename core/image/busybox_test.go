package image

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/test/busybox"
)

// The project's test image, gzipped and padded to a size that would show
// in memory if the import buffered it, goes through a pipe: the driver
// must consume it as it is produced.
func TestImportBusyboxThroughPipe(t *testing.T) {
	if _, err := os.Stat(busybox.DefaultBinary); err != nil {
		t.Skipf("needs %s (Debian busybox-static): %v", busybox.DefaultBinary, err)
	}
	f := newFixture(t)
	ctx := context.Background()
	const padding = 16 << 20
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		err := busybox.Write(zw, busybox.Options{Padding: padding})
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	id, err := f.s.Import(ctx, ImportOptions{Src: "-", Body: pr, Repo: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.s.Get(ctx, "busybox:latest")
	if err != nil || rec.ID != id || rec.Size < padding {
		t.Fatalf("%+v %v", rec, err)
	}
	dir, err := f.d.Get(ctx, id, storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.d.Put(ctx, id)
	if _, err := os.Lstat(filepath.Join(dir, "bin/sh")); err != nil {
		t.Fatal(err)
	}
}

package aufs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/storagetest"
	"github.com/pluggd/pluggd/test/require"
)

func kernelHasAufs(t *testing.T) bool {
	t.Helper()
	ok, err := hasAufs()
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestNewRefusesWithoutAufs: on a kernel without aufs (every Debian one)
// New refuses with ErrNotSupported and a message naming the filesystem.
func TestNewRefusesWithoutAufs(t *testing.T) {
	if kernelHasAufs(t) {
		t.Skip("this kernel has aufs; TestConformance covers it")
	}
	_, err := New(t.Context(), storage.InitOptions{Home: filepath.Join(t.TempDir(), "aufs")})
	if kernelHasAufs(t) {
		t.Skip("modprobe aufs loaded the module")
	}
	if !errors.Is(err, storage.ErrNotSupported) {
		t.Fatalf("New: %v, want ErrNotSupported", err)
	}
	if want := "aufs: aufs is not in /proc/filesystems: driver not supported"; err.Error() != want {
		t.Errorf("New: %q, want %q", err.Error(), want)
	}
}

func TestNewRefusesOptions(t *testing.T) {
	_, err := New(t.Context(), storage.InitOptions{Home: t.TempDir(), Options: []string{"aufs.x=1"}})
	if err == nil || err.Error() != `aufs: unknown option "aufs.x" (the driver has no options)` {
		t.Errorf("New: %v", err)
	}
}

// TestApplyKeepsWhiteoutsAndDiffIsExact applies a stream with a whiteout
// and an opaque directory into a plain directory: both are aufs files on
// disk, and the stream comes back byte for byte, or without metadata as
// the same entries.
func TestApplyKeepsWhiteoutsAndDiffIsExact(t *testing.T) {
	require.Root(t) // Apply's whiteouts need mknod and trusted xattrs.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/.wh.passwd", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "etc/hosts", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5},
		{Name: "opq/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "opq/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o644},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hello"))
		}
	}
	tw.Close()
	stream := buf.Bytes()

	base := t.TempDir()
	dir, meta := filepath.Join(base, "diff"), filepath.Join(base, "meta.json.gz")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := applyAufs(context.Background(), dir, meta, bytes.NewReader(stream)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, p := range []string{"etc/.wh.passwd", "opq/.wh..wh..opq"} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			t.Errorf("%s: want an empty regular file, got %v, %v", p, fi, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/passwd")); !os.IsNotExist(err) {
		t.Errorf("etc/passwd exists after the whiteout was converted: %v", err)
	}
	if n, _ := unixGetOpaque(filepath.Join(dir, "opq")); n {
		t.Error("the overlay opaque xattr was left on opq/")
	}

	rc, err := tarAufs(context.Background(), dir, meta)
	got := readAll(t, rc, err)
	if !bytes.Equal(got, stream) {
		t.Errorf("Diff with metadata is not byte-exact (%d vs %d bytes)", len(got), len(stream))
	}

	// Without metadata, plus aufs bookkeeping that must not travel.
	os.Remove(meta)
	if err := os.MkdirAll(filepath.Join(dir, ".wh..wh.plnk"), 0o700); err != nil {
		t.Fatal(err)
	}
	var names []string
	rc, err = tarAufs(context.Background(), dir, meta)
	tr := tar.NewReader(bytes.NewReader(readAll(t, rc, err)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	want := []string{"etc/", "etc/.wh.passwd", "etc/hosts", "opq/", "opq/.wh..wh..opq"}
	if len(names) != len(want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("entries %q, want %q", names, want)
			break
		}
	}
}

func readAll(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformance runs the storage conformance suite where the kernel
// has aufs; elsewhere it skips (or fails under PLUGGD_REQUIRE=aufs).
func TestConformance(t *testing.T) {
	require.Root(t)
	if !kernelHasAufs(t) {
		require.SkipOrFail(t, "aufs", errNoAufs)
	}
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		home := filepath.Join(t.TempDir(), "aufs")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		d, err := New(t.Context(), storage.InitOptions{Home: home})
		if errors.Is(err, storage.ErrNotSupported) || errors.Is(err, storage.ErrIncompatibleFS) {
			require.SkipOrFail(t, "aufs", err.Error())
		}
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() {
			if err := d.Cleanup(context.Background()); err != nil {
				t.Errorf("Cleanup: %v", err)
			}
		})
		return d
	})
}

// TestMakePrivate: the home becomes a private mount point of its own
// (bind-mounted onto itself when it was none), and only that bind mount
// is what Cleanup must undo.
func TestMakePrivate(t *testing.T) {
	if os.Geteuid() != 0 {
		require.SkipOrFail(t, "root", "mounting needs root")
	}
	home := t.TempDir()
	made, err := makePrivate(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(home, unix.MNT_DETACH) })
	if !made {
		t.Fatal("makePrivate did not bind-mount a directory that was no mount point")
	}
	infos, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(home))
	if err != nil || len(infos) != 1 {
		t.Fatalf("mounts at %s: %v, %v", home, infos, err)
	}
	if opt := infos[0].Optional; strings.Contains(opt, "shared:") || strings.Contains(opt, "master:") {
		t.Errorf("%s propagates (%q), want private", home, opt)
	}
	// Already a mount point: made private again, nothing new to undo.
	if made, err := makePrivate(home); err != nil || made {
		t.Errorf("second makePrivate = %v, %v; want false, nil", made, err)
	}
}

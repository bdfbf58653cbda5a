package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
)

func readTar(t *testing.T, open func() (io.ReadCloser, error)) ([]*tar.Header, []byte) {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, raw
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
	}
}

func names(hdrs []*tar.Header) []string {
	var out []string
	for _, h := range hdrs {
		out = append(out, h.Name)
	}
	return out
}

func TestTarOverlayUpper(t *testing.T) {
	requireRoot(t)
	up := t.TempDir()
	os.MkdirAll(filepath.Join(up, "o/sub"), 0o755)
	os.WriteFile(filepath.Join(up, "b"), []byte("bb"), 0o644)
	os.Link(filepath.Join(up, "b"), filepath.Join(up, "a-link"))
	os.WriteFile(filepath.Join(up, "o/sub/f"), nil, 0o644)
	unix.Mknod(filepath.Join(up, "gone"), unix.S_IFCHR, 0)
	unix.Mknod(filepath.Join(up, "o/gone2"), unix.S_IFCHR, 0)
	os.Link(filepath.Join(up, "gone"), filepath.Join(up, "gone3")) // shared whiteout inode
	unix.Setxattr(filepath.Join(up, "o"), overlayOpaqueXattr, []byte("y"), 0)
	unix.Setxattr(filepath.Join(up, "b"), "trusted.overlay.origin", []byte("x"), 0)
	unix.Setxattr(filepath.Join(up, "b"), "user.keep", []byte("k"), 0)
	unix.Mkfifo(filepath.Join(up, "fifo"), 0o600)

	hdrs, raw := readTar(t, func() (io.ReadCloser, error) {
		return Tar(context.Background(), up, TarOptions{Whiteouts: WhiteoutsOverlay})
	})
	got := names(hdrs)
	want := []string{"a-link", "b", "fifo", ".wh.gone", ".wh.gone3", "o/", "o/.wh..wh..opq", "o/.wh.gone2", "o/sub/", "o/sub/f"}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	// a-link comes first, so it carries the data and b links to it.
	if hdrs[0].Typeflag != tar.TypeReg || hdrs[1].Typeflag != tar.TypeLink || hdrs[1].Linkname != "a-link" {
		t.Fatalf("hardlink not detected: %+v %+v", hdrs[0], hdrs[1])
	}
	if hdrs[0].PAXRecords["SCHILY.xattr.user.keep"] != "k" {
		t.Fatalf("xattrs of a-link: %v", hdrs[0].PAXRecords)
	}
	for _, h := range hdrs {
		for k := range h.PAXRecords {
			if bytes.Contains([]byte(k), []byte("trusted.overlay")) {
				t.Fatalf("%s carries %s", h.Name, k)
			}
		}
	}
	// Deterministic.
	_, raw2 := readTar(t, func() (io.ReadCloser, error) {
		return Tar(context.Background(), up, TarOptions{Whiteouts: WhiteoutsOverlay})
	})
	if !bytes.Equal(raw, raw2) {
		t.Fatal("two Tars of the same tree differ")
	}

	// And back: applying the stream in overlay mode rebuilds the upper.
	back := t.TempDir()
	if _, err := Apply(context.Background(), back, bytes.NewReader(raw), ApplyOptions{Whiteouts: WhiteoutsOverlay}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(back, "o/gone2"), &st)
	if !isOverlayWhiteout(&st) || !isOpaque(filepath.Join(back, "o")) {
		t.Fatal("whiteouts did not survive Tar then Apply")
	}
}

func TestOverlayChanges(t *testing.T) {
	requireRoot(t)
	lower1, lower2, up := t.TempDir(), t.TempDir(), t.TempDir()
	// lower2 (deepest): etc/{a,b}, var/old, opq/{x,y}
	for _, p := range []string{"etc/a", "etc/b", "var/old", "opq/x", "opq/y"} {
		os.MkdirAll(filepath.Join(lower2, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(lower2, p), []byte(p), 0o644)
	}
	// lower1 deletes etc/b and adds etc/c.
	os.MkdirAll(filepath.Join(lower1, "etc"), 0o755)
	unix.Mknod(filepath.Join(lower1, "etc/b"), unix.S_IFCHR, 0)
	os.WriteFile(filepath.Join(lower1, "etc/c"), []byte("c"), 0o644)
	// upper: re-adds etc/b (an addition: lower1 hid it), modifies etc/a,
	// deletes var/old, makes opq opaque keeping y, adds new/f.
	os.MkdirAll(filepath.Join(up, "etc"), 0o755)
	os.WriteFile(filepath.Join(up, "etc/b"), []byte("again"), 0o644)
	os.WriteFile(filepath.Join(up, "etc/a"), []byte("changed"), 0o644)
	os.MkdirAll(filepath.Join(up, "var"), 0o755)
	unix.Mknod(filepath.Join(up, "var/old"), unix.S_IFCHR, 0)
	os.MkdirAll(filepath.Join(up, "opq"), 0o755)
	unix.Setxattr(filepath.Join(up, "opq"), overlayOpaqueXattr, []byte("y"), 0)
	os.WriteFile(filepath.Join(up, "opq/y"), []byte("y"), 0o644)
	os.MkdirAll(filepath.Join(up, "new"), 0o755)
	os.WriteFile(filepath.Join(up, "new/f"), nil, 0o644)

	got, err := OverlayChanges(context.Background(), up, []string{lower1, lower2})
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Change{
		{Path: "/etc", Kind: storage.ChangeModify},
		{Path: "/etc/a", Kind: storage.ChangeModify},
		{Path: "/etc/b", Kind: storage.ChangeAdd},
		{Path: "/new", Kind: storage.ChangeAdd},
		{Path: "/new/f", Kind: storage.ChangeAdd},
		{Path: "/opq", Kind: storage.ChangeModify},
		{Path: "/opq/x", Kind: storage.ChangeDelete},
		{Path: "/opq/y", Kind: storage.ChangeModify},
		{Path: "/var", Kind: storage.ChangeModify},
		{Path: "/var/old", Kind: storage.ChangeDelete},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes\n got %v\nwant %v", got, want)
	}
}

func TestChangesTwoTrees(t *testing.T) {
	old, cur := t.TempDir(), t.TempDir()
	for _, d := range []string{old, cur} {
		os.MkdirAll(filepath.Join(d, "same/deep"), 0o755)
		os.WriteFile(filepath.Join(d, "same/deep/f"), []byte("f"), 0o644)
		os.Chtimes(filepath.Join(d, "same/deep/f"), timeZero, timeZero)
	}
	os.MkdirAll(filepath.Join(old, "gone/sub"), 0o755)
	os.WriteFile(filepath.Join(old, "mod"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(cur, "mod"), []byte("22"), 0o644)
	os.MkdirAll(filepath.Join(cur, "added/sub"), 0o755)
	os.WriteFile(filepath.Join(cur, "added/sub/f"), []byte("123"), 0o644)
	os.WriteFile(filepath.Join(cur, "same/deep/new"), []byte("4567"), 0o644)

	got, err := Changes(context.Background(), cur, old)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Change{
		{Path: "/added", Kind: storage.ChangeAdd},
		{Path: "/added/sub", Kind: storage.ChangeAdd},
		{Path: "/added/sub/f", Kind: storage.ChangeAdd},
		{Path: "/gone", Kind: storage.ChangeDelete},
		{Path: "/mod", Kind: storage.ChangeModify},
		{Path: "/same", Kind: storage.ChangeModify},
		{Path: "/same/deep", Kind: storage.ChangeModify},
		{Path: "/same/deep/new", Kind: storage.ChangeAdd},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes\n got %v\nwant %v", got, want)
	}
	if n, err := ChangesSize(context.Background(), cur, got); err != nil || n != 3+2+4 {
		t.Fatalf("ChangesSize = %d, %v; want 9", n, err)
	}
	all, _ := Changes(context.Background(), cur, "")
	for _, c := range all {
		if c.Kind != storage.ChangeAdd {
			t.Fatalf("with no old tree %v is not an addition", c)
		}
	}
	hdrs, _ := readTar(t, func() (io.ReadCloser, error) { return TarChanges(context.Background(), cur, got) })
	wantNames := []string{"added/", "added/sub/", "added/sub/f", ".wh.gone", "mod", "same/", "same/deep/", "same/deep/new"}
	if !slices.Equal(names(hdrs), wantNames) {
		t.Fatalf("TarChanges entries %v, want %v", names(hdrs), wantNames)
	}
}

var timeZero = time.Unix(1000, 0)

package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/errdefs"
)

func TestApplyRefusesTraversal(t *testing.T) {
	var passwd syscall.Stat_t
	if err := syscall.Stat("/etc/passwd", &passwd); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]ent{
		"dotdot":               {file("../x", "evil")},
		"dotdot-inside":        {dir("a/"), file("a/../../x", "evil")},
		"symlink-abs":          {symlink("a", "/etc"), file("a/passwd", "evil")},
		"symlink-abs-dir":      {symlink("a", "/tmp"), dir("a/sub/"), file("a/sub/x", "evil")},
		"symlink-up":           {symlink("b", "../../.."), file("b/x", "evil")},
		"symlink-chain":        {symlink("c", "d"), symlink("d", "../outside"), file("c/x", "evil")},
		"hardlink-up":          {hardlink("h", "../../etc/passwd")},
		"hardlink-abs-through": {symlink("a", "/etc"), hardlink("h", "a/passwd")},
		"hardlink-symlink-dir": {symlink("a", ".."), hardlink("h", "a/outside/secret")},
		"whiteout-through":     {symlink("a", ".."), file("a/.wh.outside", "")},
		"opaque-through":       {symlink("a", ".."), file("a/.wh..wh..opq", "")},
	}
	for name, entries := range cases {
		for _, mode := range []Whiteouts{WhiteoutsDelete, WhiteoutsOverlay} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				base := t.TempDir()
				root := filepath.Join(base, "root", "layer")
				outside := filepath.Join(base, "root", "outside")
				for _, d := range []string{root, outside} {
					if err := os.MkdirAll(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
					t.Fatal(err)
				}
				before := listTree(t, base)
				_, err := Apply(context.Background(), root, bytes.NewReader(buildTar(t, entries, nil)), ApplyOptions{Whiteouts: mode})
				if !errdefs.IsInvalidParameter(err) {
					t.Fatalf("Apply = %v, want an InvalidParameter error", err)
				}
				var after []string
				for _, p := range listTree(t, base) {
					if !strings.HasPrefix(p, "root/layer/") {
						after = append(after, p)
					}
				}
				var want []string
				for _, p := range before {
					if !strings.HasPrefix(p, "root/layer/") {
						want = append(want, p)
					}
				}
				if !reflect.DeepEqual(after, want) {
					t.Fatalf("outside the layer changed: before %v, after %v", want, after)
				}
				if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "s" {
					t.Fatalf("outside file changed: %q", b)
				}
				var now syscall.Stat_t
				if err := syscall.Stat("/etc/passwd", &now); err != nil {
					t.Fatal(err)
				}
				if now.Nlink != passwd.Nlink || now.Size != passwd.Size || now.Mtim != passwd.Mtim {
					t.Fatal("/etc/passwd changed")
				}
			})
		}
	}
}

func TestApplyContainsAbsoluteNames(t *testing.T) {
	root := t.TempDir()
	tarb := buildTar(t, []ent{dir("/abs/"), file("/abs/x", "hello"), file("./rel", "r")}, nil)
	n, err := Apply(context.Background(), root, bytes.NewReader(tarb), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("bytes written = %d, want 6", n)
	}
	if b, err := os.ReadFile(filepath.Join(root, "abs/x")); err != nil || string(b) != "hello" {
		t.Fatalf("abs/x = %q, %v", b, err)
	}
}

func TestApplyFollowsSymlinksInside(t *testing.T) {
	root := t.TempDir()
	tarb := buildTar(t, []ent{dir("usr/"), dir("usr/lib/"), symlink("lib", "usr/lib"), file("lib/x", "x"), hardlink("y", "lib/x")}, nil)
	if _, err := Apply(context.Background(), root, bytes.NewReader(tarb), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/lib/x")); err != nil || string(b) != "x" {
		t.Fatalf("usr/lib/x = %q, %v", b, err)
	}
	var a, b syscall.Stat_t
	syscall.Lstat(filepath.Join(root, "usr/lib/x"), &a)
	syscall.Lstat(filepath.Join(root, "y"), &b)
	if a.Ino != b.Ino {
		t.Fatal("y is not a hardlink of usr/lib/x")
	}
}

func TestApplyTruncatedIsInvalid(t *testing.T) {
	full := buildTar(t, []ent{dir("d/"), file("d/f", strings.Repeat("x", 3000))}, nil)
	for _, cut := range []int{100, 512, 1024, 2000, len(full) - 1024 - 1} {
		for _, meta := range []bool{false, true} {
			root := t.TempDir()
			opts := ApplyOptions{}
			if meta {
				opts.MetadataPath = filepath.Join(t.TempDir(), "tar-split.json.gz")
			}
			_, err := Apply(context.Background(), root, bytes.NewReader(full[:cut]), opts)
			if !errdefs.IsInvalidParameter(err) {
				t.Fatalf("cut at %d (meta %v): Apply = %v, want InvalidParameter", cut, meta, err)
			}
			if meta {
				if _, err := os.Stat(opts.MetadataPath); !os.IsNotExist(err) {
					t.Fatalf("metadata written for a failed apply: %v", err)
				}
			}
		}
	}
	if _, err := Apply(context.Background(), t.TempDir(), strings.NewReader(strings.Repeat("garbage!", 100)), ApplyOptions{}); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("garbage: %v", err)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestApplySourceErrorIsNotInvalid(t *testing.T) {
	boom := errors.New("connection reset")
	for _, meta := range []string{"", filepath.Join(t.TempDir(), "m")} {
		r := io.MultiReader(bytes.NewReader(buildTar(t, []ent{file("a", "1")}, nil)[:600]), failingReader{boom})
		_, err := Apply(context.Background(), t.TempDir(), r, ApplyOptions{MetadataPath: meta})
		if !errors.Is(err, boom) || errdefs.IsInvalidParameter(err) {
			t.Fatalf("Apply = %v, want the source's error unclassified", err)
		}
	}
}

func TestApplyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, t.TempDir(), bytes.NewReader(buildTar(t, []ent{file("a", "1")}, nil)), ApplyOptions{MetadataPath: filepath.Join(t.TempDir(), "m")})
	if !errdefs.IsCanceled(err) {
		t.Fatalf("Apply = %v, want canceled", err)
	}
}

func TestApplyAttributes(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	mt := time.Unix(1234567890, 0)
	suid := file("bin/su", "su")
	suid.hdr.Mode = 0o4755
	suid.hdr.Uid, suid.hdr.Gid = 1000, 1001
	sticky := dir("tmp/")
	sticky.hdr.Mode = 0o1777
	sticky.hdr.ModTime = mt
	withX := file("cap", "c")
	withX.hdr.PAXRecords = map[string]string{"SCHILY.xattr.user.test": "v", "SCHILY.xattr.trusted.overlay.redirect": "/evil"}
	entries := []ent{
		dir("bin/"), suid, sticky, file("tmp/inside", "i"), withX,
		{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
		{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "blk", Mode: 0o600, Devmajor: 7, Devminor: 0}},
		{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o640}},
		symlink("link", "bin/su"),
	}
	if _, err := Apply(context.Background(), root, bytes.NewReader(buildTar(t, entries, nil)), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(root, "bin/su"), &st)
	if st.Mode&0o7777 != 0o4755 || st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("bin/su mode %o uid %d gid %d", st.Mode&0o7777, st.Uid, st.Gid)
	}
	unix.Lstat(filepath.Join(root, "tmp"), &st)
	if st.Mode&0o7777 != 0o1777 || st.Mtim.Sec != mt.Unix() {
		t.Errorf("tmp mode %o mtime %d (dir mtime must be set after its content)", st.Mode&0o7777, st.Mtim.Sec)
	}
	unix.Lstat(filepath.Join(root, "null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 || st.Mode&0o777 != 0o666 {
		t.Errorf("null: mode %o rdev %d:%d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	unix.Lstat(filepath.Join(root, "blk"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		t.Errorf("blk: mode %o", st.Mode)
	}
	unix.Lstat(filepath.Join(root, "fifo"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&0o777 != 0o640 {
		t.Errorf("fifo: mode %o", st.Mode)
	}
	if v, err := lgetxattr(filepath.Join(root, "cap"), "user.test"); err != nil || string(v) != "v" {
		t.Errorf("user.test = %q, %v", v, err)
	}
	if _, err := lgetxattr(filepath.Join(root, "cap"), "trusted.overlay.redirect"); err == nil {
		t.Error("a trusted.overlay xattr from the stream was set")
	}
	if target, _ := os.Readlink(filepath.Join(root, "link")); target != "bin/su" {
		t.Errorf("link -> %q", target)
	}
}

func TestApplyWhiteoutsDeleteMode(t *testing.T) {
	root := t.TempDir()
	base := buildTar(t, []ent{dir("a/"), file("a/keep", "k"), file("a/gone", "g"), dir("o/"), file("o/old", "o"), dir("o/sub/"), file("o/sub/old", "o")}, nil)
	if _, err := Apply(context.Background(), root, bytes.NewReader(base), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	layer := buildTar(t, []ent{file("a/.wh.gone", ""), dir("o/"), file("o/.wh..wh..opq", ""), file("o/new", "n"), file("o/sub/new", "n"), file(".wh..wh.plnk", ""), file("a/.wh.never-existed", "")}, nil)
	if _, err := Apply(context.Background(), root, bytes.NewReader(layer), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	got := listTree(t, root)
	want := []string{"a", "a/keep", "o", "o/new", "o/sub", "o/sub/new"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tree = %v, want %v", got, want)
	}
}

func TestApplyWhiteoutsOverlayMode(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	layer := buildTar(t, []ent{dir("a/"), file("a/.wh.gone", ""), dir("o/"), file("o/.wh..wh..opq", ""), file("o/new", "n"), file(".wh..wh.plnk", "")}, nil)
	if _, err := Apply(context.Background(), root, bytes.NewReader(layer), ApplyOptions{Whiteouts: WhiteoutsOverlay}); err != nil {
		t.Fatal(err)
	}
	got := listTree(t, root)
	want := []string{"a", "a/gone", "o", "o/new"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tree = %v, want %v", got, want)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(root, "a/gone"), &st)
	if !isOverlayWhiteout(&st) {
		t.Fatalf("a/gone mode %o rdev %d, want a 0/0 char device", st.Mode, st.Rdev)
	}
	if !isOpaque(filepath.Join(root, "o")) {
		t.Fatal("o is not opaque")
	}
}

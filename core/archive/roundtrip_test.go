package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// roundTrip applies tarb with metadata and checks that Reassemble gives
// the very same bytes.
func roundTrip(t *testing.T, tarb []byte, mode Whiteouts) string {
	t.Helper()
	root := t.TempDir()
	meta := filepath.Join(t.TempDir(), "tar-split.json.gz")
	if _, err := Apply(context.Background(), root, bytes.NewReader(tarb), ApplyOptions{Whiteouts: mode, MetadataPath: meta}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	rc, err := Reassemble(context.Background(), root, meta)
	if err != nil {
		t.Fatalf("Reassemble: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("reading the reassembled stream: %v", err)
	}
	if !bytes.Equal(got, tarb) {
		i := 0
		for i < len(got) && i < len(tarb) && got[i] == tarb[i] {
			i++
		}
		t.Fatalf("reassembled %d bytes differ from the %d applied, first at offset %d", len(got), len(tarb), i)
	}
	return root
}

func TestRoundTripByteExact(t *testing.T) {
	requireRoot(t)
	long := strings.Repeat("long-directory-name/", 8) + "file-with-a-name-past-100-bytes"
	sub := time.Unix(1500000000, 123456789)

	pax := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range []*tar.Header{
			{Typeflag: tar.TypeDir, Name: strings.Repeat("long-directory-name/", 8), Mode: 0o755, ModTime: sub, Format: tar.FormatPAX},
			{Typeflag: tar.TypeReg, Name: long, Mode: 0o644, Size: 5, ModTime: sub, Format: tar.FormatPAX,
				PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}},
			{Typeflag: tar.TypeLink, Name: "hl-to-long", Linkname: long, ModTime: sub, Format: tar.FormatPAX},
			{Typeflag: tar.TypeReg, Name: "ünïcödé", Mode: 0o600, Size: 1, Uname: "someone", Uid: 4242, Gid: 4243, ModTime: sub, Format: tar.FormatPAX},
		} {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write(bytes.Repeat([]byte("z"), int(h.Size)))
		}
		tw.Close()
		return buf.Bytes()
	}()

	gnu := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range []*tar.Header{
			{Typeflag: tar.TypeReg, Name: long, Mode: 0o644, Size: 513, ModTime: time.Unix(1, 0), Format: tar.FormatGNU},
			{Typeflag: tar.TypeSymlink, Name: "sym", Linkname: strings.Repeat("t", 150), ModTime: time.Unix(1, 0), Format: tar.FormatGNU},
		} {
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write(bytes.Repeat([]byte("g"), int(h.Size)))
		}
		tw.Close()
		return buf.Bytes()
	}()

	cases := map[string]struct {
		tar  []byte
		mode Whiteouts
	}{
		"simple": {buildTar(t, []ent{dir("etc/"), file("etc/hosts", "127.0.0.1 localhost\n"), file("empty", ""), file("block", strings.Repeat("b", 512)), symlink("etc/mtab", "/proc/mounts"), hardlink("hosts2", "etc/hosts")}, nil), WhiteoutsDelete},
		"pax":    {pax, WhiteoutsDelete},
		"gnu":    {gnu, WhiteoutsDelete},
		// GNU tar pads to a 10 KiB record; some writers add less.
		"record-padding":    {buildTar(t, []ent{file("a", "a")}, make([]byte, 10240-3*512)), WhiteoutsDelete},
		"odd-padding":       {buildTar(t, []ent{file("a", "a")}, make([]byte, 7)), WhiteoutsDelete},
		"whiteouts-overlay": {buildTar(t, []ent{dir("d/"), file("d/.wh..wh..opq", ""), file("d/x", "x"), file(".wh.gone", ""), dir("e/"), file("e/.wh.f", "")}, nil), WhiteoutsOverlay},
		"whiteouts-delete":  {buildTar(t, []ent{dir("d/"), file("d/.wh..wh..opq", ""), file("d/x", "x"), file(".wh.gone", "")}, nil), WhiteoutsDelete},
		"empty-layer":       {buildTar(t, nil, nil), WhiteoutsOverlay},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { roundTrip(t, c.tar, c.mode) })
	}
}

// TestRoundTripGNUTar checks a stream written by GNU tar itself, with its
// own PAX extensions and xattrs.
func TestRoundTripGNUTar(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar binary")
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "a/b"), 0o755)
	os.WriteFile(filepath.Join(src, "a/b/f"), []byte("hello"), 0o644)
	os.Link(filepath.Join(src, "a/b/f"), filepath.Join(src, "a/hl"))
	os.Symlink("b/f", filepath.Join(src, "a/sl"))
	exec.Command("setfattr", "-n", "user.x", "-v", "y", filepath.Join(src, "a/b/f")).Run()
	for _, format := range []string{"posix", "gnu", "ustar"} {
		args := []string{"--format=" + format, "-C", src, "-cf", "-", "."}
		if format == "posix" {
			args = append([]string{"--xattrs"}, args...)
		}
		out, err := exec.Command("tar", args...).Output()
		if err != nil {
			t.Fatalf("tar --format=%s: %v", format, err)
		}
		t.Run(format, func(t *testing.T) { roundTrip(t, out, WhiteoutsDelete) })
	}
}

// TestReassembleDetectsChangedFiles: a file changed after Apply must fail
// the stream, not yield a silently different layer.
func TestReassembleDetectsChangedFiles(t *testing.T) {
	root := t.TempDir()
	meta := filepath.Join(t.TempDir(), "m")
	if _, err := Apply(context.Background(), root, bytes.NewReader(buildTar(t, []ent{file("f", "original")}, nil)), ApplyOptions{MetadataPath: meta}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "f"), []byte("modified"), 0o644)
	rc, err := Reassemble(context.Background(), root, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil {
		t.Fatal("reassembly of a changed file succeeded")
	}
}

func TestReassembleCloseEarly(t *testing.T) {
	root := t.TempDir()
	meta := filepath.Join(t.TempDir(), "m")
	big := strings.Repeat("x", 1<<20)
	if _, err := Apply(context.Background(), root, bytes.NewReader(buildTar(t, []ent{file("a", big), file("b", big)}, nil)), ApplyOptions{MetadataPath: meta}); err != nil {
		t.Fatal(err)
	}
	rc, err := Reassemble(context.Background(), root, meta)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil { // must return, not hang
		t.Fatal(err)
	}
}

package overlay

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/test/require"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// newDriver starts a driver in a fresh home and unmounts everything it
// mounted when the test ends, passed or failed.
func newDriver(t *testing.T, home string) *Driver {
	t.Helper()
	require.Overlay(t)
	if home == "" {
		home = filepath.Join(t.TempDir(), "overlay")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	drv, err := New(context.Background(), storage.InitOptions{Home: home})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	d := drv.(*Driver)
	t.Cleanup(func() {
		if err := d.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		if m, _ := mountsBelow(home); len(m) > 0 {
			t.Errorf("still mounted after Cleanup: %v", m)
		}
	})
	return d
}

type entry struct {
	name, body string
	typ        byte
}

func layerTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), ModTime: time.Unix(1600000000, 0)}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.Bytes()
}

func ctx() context.Context { return context.Background() }

func mustCreate(t *testing.T, d *Driver, id, parent string) {
	t.Helper()
	if err := d.Create(ctx(), id, parent, storage.CreateOptions{}); err != nil {
		t.Fatalf("Create %s on %q: %v", id, parent, err)
	}
}

func mustApply(t *testing.T, d *Driver, id, parent string, tarb []byte) {
	t.Helper()
	if _, err := d.ApplyDiff(ctx(), id, parent, bytes.NewReader(tarb)); err != nil {
		t.Fatalf("ApplyDiff %s: %v", id, err)
	}
}

func diffBytes(t *testing.T, d *Driver, id, parent string) []byte {
	t.Helper()
	rc, err := d.Diff(ctx(), id, parent)
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

func TestInfoAndStatus(t *testing.T) {
	d := newDriver(t, "")
	info, _ := d.Info(ctx())
	if info.Name != "overlay" || !info.Capabilities.ByteExactDiff {
		t.Fatalf("Info = %+v", info)
	}
	st, _ := d.Status(ctx())
	if len(st) == 0 || st[0].Key != "Backing Filesystem" || st[0].Value == "" {
		t.Fatalf("Status = %v", st)
	}
}

func TestUnknownOptionNamesKey(t *testing.T) {
	_, err := New(ctx(), storage.InitOptions{Home: t.TempDir(), Options: []string{"overlay.size=10G"}})
	if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "overlay.size") {
		t.Fatalf("New = %v, want InvalidParameter naming overlay.size", err)
	}
}

func TestRefusesOverlayBackingFS(t *testing.T) {
	d := newDriver(t, "")
	mustCreate(t, d, "base", "")
	mustCreate(t, d, "top", "base")
	mnt, err := d.Get(ctx(), "top", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Put(ctx(), "top")
	home := filepath.Join(mnt, "nested", "overlay")
	os.MkdirAll(home, 0o700)
	_, err = New(ctx(), storage.InitOptions{Home: home})
	if !errors.Is(err, storage.ErrIncompatibleFS) {
		t.Fatalf("New on overlayfs = %v, want ErrIncompatibleFS", err)
	}
}

func TestLifecycleErrors(t *testing.T) {
	d := newDriver(t, "")
	mustCreate(t, d, "base", "")
	if err := d.Create(ctx(), "base", "", storage.CreateOptions{}); !errors.Is(err, storage.ErrLayerExists) {
		t.Fatalf("Create existing = %v", err)
	}
	if err := d.Create(ctx(), "x", "missing", storage.CreateOptions{}); !errors.Is(err, storage.ErrLayerNotFound) {
		t.Fatalf("Create on missing parent = %v", err)
	}
	if err := d.Remove(ctx(), "missing"); !errors.Is(err, storage.ErrLayerNotFound) {
		t.Fatalf("Remove missing = %v", err)
	}
	if err := d.Put(ctx(), "base"); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("Put without Get = %v", err)
	}
	if err := d.Create(ctx(), "y", "", storage.CreateOptions{StorageOpt: map[string]string{"size": "1G"}}); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("Create with size = %v", err)
	}
	mustCreate(t, d, "child", "base")
	if err := d.Remove(ctx(), "base"); !errors.Is(err, storage.ErrLayerInUse) {
		t.Fatalf("Remove with child = %v", err)
	}
	if _, err := d.Get(ctx(), "child", storage.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx(), "child"); !errors.Is(err, storage.ErrLayerInUse) {
		t.Fatalf("Remove mounted = %v", err)
	}
	if ok, _ := d.Exists(ctx(), "child"); !ok {
		t.Fatal("refused Remove removed the layer")
	}
	if err := d.Put(ctx(), "child"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"child", "base"} {
		if err := d.Remove(ctx(), id); err != nil {
			t.Fatalf("Remove %s: %v", id, err)
		}
		if ok, _ := d.Exists(ctx(), id); ok {
			t.Fatalf("%s exists after Remove", id)
		}
	}
	links, _ := os.ReadDir(filepath.Join(d.home, linkDir))
	if len(links) != 0 {
		t.Fatalf("links left: %v", links)
	}
}

func TestGetPutMountsUnion(t *testing.T) {
	d := newDriver(t, "")
	mustCreate(t, d, "base", "")
	mustApply(t, d, "base", "", layerTar(t, entry{name: "etc/", typ: tar.TypeDir}, entry{name: "etc/a", body: "a"}, entry{name: "etc/gone", body: "g"}))
	mustCreate(t, d, "mid", "base")
	mustApply(t, d, "mid", "base", layerTar(t, entry{name: "etc/", typ: tar.TypeDir}, entry{name: "etc/b", body: "b"}, entry{name: "etc/.wh.gone"}))
	mustCreate(t, d, "top", "mid")

	p1, err := d.Get(ctx(), "top", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := d.Get(ctx(), "top", storage.GetOptions{})
	if err != nil || p1 != p2 {
		t.Fatalf("second Get = %q, %v", p2, err)
	}
	names := dirNames(t, filepath.Join(p1, "etc"))
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("etc = %v, want [a b]", names)
	}
	os.WriteFile(filepath.Join(p1, "etc/c"), []byte("c"), 0o644)
	d.Put(ctx(), "top")
	if m, _ := isMounted(p1); !m {
		t.Fatal("unmounted while a reference remains")
	}
	d.Put(ctx(), "top")
	if m, _ := isMounted(p1); m {
		t.Fatal("still mounted after the last Put")
	}
	if _, err := os.Stat(filepath.Join(d.diffDir("top"), "etc/c")); err != nil {
		t.Fatal("write through the mount did not reach the upper dir")
	}
	base, err := d.Get(ctx(), "base", storage.GetOptions{})
	if err != nil || base != d.diffDir("base") {
		t.Fatalf("Get base = %q, %v; want its diff dir", base, err)
	}
	d.Put(ctx(), "base")
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestDiffByteExactAndFallbacks(t *testing.T) {
	d := newDriver(t, "")
	baseTar := layerTar(t, entry{name: "etc/", typ: tar.TypeDir}, entry{name: "etc/a", body: "a"}, entry{name: "etc/gone", body: "g"}, entry{name: "o/", typ: tar.TypeDir}, entry{name: "o/old", body: "o"})
	midTar := layerTar(t, entry{name: "etc/", typ: tar.TypeDir}, entry{name: "etc/b", body: "bb"}, entry{name: "etc/.wh.gone"}, entry{name: "o/", typ: tar.TypeDir}, entry{name: "o/.wh..wh..opq"}, entry{name: "o/new", body: "n"})
	mustCreate(t, d, "base", "")
	mustApply(t, d, "base", "", baseTar)
	mustCreate(t, d, "mid", "base")
	mustApply(t, d, "mid", "base", midTar)

	for id, want := range map[string][]byte{"base": baseTar, "mid": midTar} {
		parent, _ := d.parentOf(id)
		got := diffBytes(t, d, id, parent)
		if !bytes.Equal(got, want) {
			t.Fatalf("Diff(%s) is not the applied stream", id)
		}
	}

	// Without metadata: the upper dir, whiteouts converted back.
	os.Remove(filepath.Join(d.dir("mid"), metaFile))
	got := tarNames(t, diffBytes(t, d, "mid", "base"))
	// Entries follow the names on disk: the whiteout of "gone" after "b".
	want := []string{"etc/", "etc/b", "etc/.wh.gone", "o/", "o/.wh..wh..opq", "o/new"}
	if !slices.Equal(got, want) {
		t.Fatalf("Diff from the upper dir = %v, want %v", got, want)
	}

	changes, err := d.Changes(ctx(), "mid", "base")
	if err != nil {
		t.Fatal(err)
	}
	wantCh := []storage.Change{{Path: "/etc", Kind: storage.ChangeModify}, {Path: "/etc/b", Kind: storage.ChangeAdd}, {Path: "/etc/gone", Kind: storage.ChangeDelete}, {Path: "/o", Kind: storage.ChangeModify}, {Path: "/o/new", Kind: storage.ChangeAdd}, {Path: "/o/old", Kind: storage.ChangeDelete}}
	if !slices.Equal(changes, wantCh) {
		t.Fatalf("Changes = %v, want %v", changes, wantCh)
	}

	// Against another parent (here none): the whole merged tree.
	got = tarNames(t, diffBytes(t, d, "mid", ""))
	want = []string{"etc/", "etc/a", "etc/b", "o/", "o/new"}
	if !slices.Equal(got, want) {
		t.Fatalf("Diff(mid, \"\") = %v, want %v", got, want)
	}
	mustCreate(t, d, "top", "mid")
	mnt, err := d.Get(ctx(), "top", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mnt, "etc/top"), []byte("123"), 0o644)
	os.Remove(filepath.Join(mnt, "etc/a"))
	d.Put(ctx(), "top")
	got = tarNames(t, diffBytes(t, d, "top", "base"))
	want = []string{"etc/", "etc/.wh.a", "etc/b", "etc/.wh.gone", "etc/top", "o/", "o/new", "o/.wh.old"}
	if !slices.Equal(got, want) {
		t.Fatalf("naive Diff(top, base) = %v, want %v", got, want)
	}
	if n, err := d.DiffSize(ctx(), "top", "mid"); err != nil || n != 3 {
		t.Fatalf("DiffSize(top, mid) = %d, %v; want 3", n, err)
	}
	if n, err := d.DiffSize(ctx(), "top", "base"); err != nil || n != 3+2+1 {
		t.Fatalf("DiffSize(top, base) = %d, %v; want 6", n, err)
	}
	if m, _ := mountsBelow(d.home); len(m) != 0 {
		t.Fatalf("naive diffs left mounts: %v", m)
	}
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Name)
	}
}

func TestApplyDiffRefusesTraversal(t *testing.T) {
	d := newDriver(t, "")
	mustCreate(t, d, "base", "")
	_, err := d.ApplyDiff(ctx(), "base", "", bytes.NewReader(layerTar(t, entry{name: "../../escape", body: "x"})))
	if !errdefs.IsInvalidParameter(err) {
		t.Fatalf("ApplyDiff = %v, want InvalidParameter", err)
	}
	if _, err := os.Stat(filepath.Join(d.home, "escape")); err == nil {
		t.Fatal("a file was written outside the layer")
	}
}

// TestDeepChain mounts a chain of 125 layers, past what absolute paths fit
// in a page, and sees every layer's file through the top mount.
func TestDeepChain(t *testing.T) {
	d := newDriver(t, "")
	const depth = 125
	parent := ""
	for i := range depth {
		id := strings.Repeat("0", 60) + "-" + itoa(i)
		mustCreate(t, d, id, parent)
		mustApply(t, d, id, parent, layerTar(t, entry{name: "f" + itoa(i), body: itoa(i)}))
		parent = id
	}
	cwd, _ := os.Getwd()
	mnt, err := d.Get(ctx(), parent, storage.GetOptions{})
	if err != nil {
		t.Fatalf("Get of a %d-layer chain: %v", depth, err)
	}
	defer d.Put(ctx(), parent)
	if now, _ := os.Getwd(); now != cwd {
		t.Fatalf("the process cwd changed to %s", now)
	}
	for i := range depth {
		b, err := os.ReadFile(filepath.Join(mnt, "f"+itoa(i)))
		if err != nil || string(b) != itoa(i) {
			t.Fatalf("f%d through the mount = %q, %v", i, b, err)
		}
	}
	// Three more are fine, one more is too deep.
	for i := depth; i < maxLowers+1; i++ {
		id := strings.Repeat("0", 60) + "-" + itoa(i)
		mustCreate(t, d, id, parent)
		parent = id
	}
	if err := d.Create(ctx(), "too-deep", parent, storage.CreateOptions{}); !errors.Is(err, storage.ErrTooDeep) {
		t.Fatalf("Create past %d lowers = %v, want ErrTooDeep", maxLowers, err)
	}
	m2, err := d.Get(ctx(), parent, storage.GetOptions{})
	if err != nil {
		t.Fatalf("Get with %d lowers: %v", maxLowers, err)
	}
	if _, err := os.Stat(filepath.Join(m2, "f0")); err != nil {
		t.Fatal(err)
	}
	d.Put(ctx(), parent)
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestRestartAdoptsMounts: a new driver process on the same home finds a
// layer still mounted; Get adopts it instead of mounting twice, and
// Cleanup unmounts it.
func TestRestartAdoptsMounts(t *testing.T) {
	d1 := newDriver(t, "")
	mustCreate(t, d1, "base", "")
	mustCreate(t, d1, "top", "base")
	mnt, err := d1.Get(ctx(), "top", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// d1 "dies" without Put or Cleanup.
	d2 := newDriver(t, d1.home)
	m2, err := d2.Get(ctx(), "top", storage.GetOptions{})
	if err != nil || m2 != mnt {
		t.Fatalf("Get after restart = %q, %v", m2, err)
	}
	if n := countMounts(t, mnt); n != 1 {
		t.Fatalf("%d mounts on %s, want 1", n, mnt)
	}
	if err := d2.Put(ctx(), "top"); err != nil {
		t.Fatal(err)
	}
	if n := countMounts(t, mnt); n != 0 {
		t.Fatalf("%d mounts left after the Put", n)
	}
	// A leftover mount nobody claims is removed with its layer.
	d3 := newDriver(t, d1.home)
	if _, err := d3.Get(ctx(), "top", storage.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	d4 := newDriver(t, d1.home)
	if err := d4.Remove(ctx(), "top"); err != nil {
		t.Fatalf("Remove of a stale mount: %v", err)
	}
	if n := countMounts(t, mnt); n != 0 {
		t.Fatalf("%d mounts left after Remove", n)
	}
}

func countMounts(t *testing.T, target string) int {
	t.Helper()
	mps, err := mountPoints()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range mps {
		if m == target {
			n++
		}
	}
	return n
}

// TestCrashLeftoversFinished: a removal and a creation interrupted by a
// crash are completed by the next New.
func TestCrashLeftoversFinished(t *testing.T) {
	d := newDriver(t, "")
	mustCreate(t, d, "doomed", "")
	short, _ := readFileString(filepath.Join(d.dir("doomed"), "link"))
	if err := os.Rename(d.dir("doomed"), d.dir("doomed")+removingSuffix); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(d.home, tmpPrefix+"half-created"), 0o700)
	os.Symlink("../nothing/diff", filepath.Join(d.home, linkDir, "DANGLING"))
	newDriver(t, d.home)
	ents := dirNames(t, d.home)
	if !slices.Equal(ents, []string{linkDir}) {
		t.Fatalf("home after restart = %v, want only %s", ents, linkDir)
	}
	if links := dirNames(t, filepath.Join(d.home, linkDir)); len(links) != 0 {
		t.Fatalf("links left: %v (doomed was %s)", links, short)
	}
}

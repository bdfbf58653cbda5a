package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/image/imagetest"
	"github.com/pluggd/pluggd/core/image/reference"
)

type fixture struct {
	s      *Service
	d      storage.Driver
	root   string
	closed bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{d: imagetest.Driver(t), root: t.TempDir()}
	f.open(t)
	t.Cleanup(func() {
		if !f.closed {
			f.s.Close()
		}
	})
	return f
}

func (f *fixture) open(t *testing.T) {
	t.Helper()
	s, err := NewService(context.Background(), Options{Root: f.root, Driver: f.d, DockerVersion: "1.7.1"})
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	f.s, f.closed = s, false
}

func (f *fixture) reopen(t *testing.T) {
	t.Helper()
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	f.closed = true
	f.open(t)
}

func (f *fixture) importTar(t *testing.T, repo string, body []byte) string {
	t.Helper()
	id, err := f.s.Import(context.Background(), ImportOptions{Src: "-", Body: bytes.NewReader(body), Repo: repo})
	if err != nil {
		t.Fatalf("Import(%s): %v", repo, err)
	}
	return id
}

// addChild registers an image on top of parent the way commit will: a
// driver layer with a parent and a record naming it.
func (f *fixture) addChild(t *testing.T, parent, repo string) string {
	t.Helper()
	ctx := context.Background()
	var id string
	if err := f.s.db.Update(func(tx *bolt.Tx) error {
		var err error
		id, err = newID(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Create(ctx, id, parent, storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(&Image{ID: id, Parent: parent, Created: time.Now().UTC(), ContainerConfig: Config{Cmd: StrSlice{"/bin/sh", "-c", "true"}}})
	if err := f.s.db.Update(func(tx *bolt.Tx) error {
		if err := putRecord(tx, id, raw, 0); err != nil {
			return err
		}
		if repo != "" {
			r, err := reference.Parse(repo)
			if err != nil {
				return err
			}
			return setTag(tx, r, id, false)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) pending(t *testing.T) []string {
	t.Helper()
	var ids []string
	f.s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
	})
	return ids
}

func (f *fixture) exists(t *testing.T, id string) bool {
	t.Helper()
	ok, err := f.d.Exists(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

var idPattern = regexp.MustCompile(`^[a-f0-9]{64}$`)

func TestImportThenLookupEveryWay(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.importTar(t, "busybox", imagetest.Tar(t, map[string]string{"bin/hello": "hello world\n", "etc/motd": "hi"}))
	if !idPattern.MatchString(id) {
		t.Fatalf("id %q", id)
	}
	for _, name := range []string{"busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox:latest", id, id[:12], id[:5]} {
		rec, err := f.s.Get(ctx, name)
		if err != nil || rec.ID != id {
			t.Errorf("Get(%q) = %v, %v", name, rec, err)
		}
	}
	if _, err := f.s.Get(ctx, "busybox:1"); !errdefs.IsNotFound(err) || err.Error() != "No such image: busybox:1" {
		t.Errorf("missing tag: %v", err)
	}
	d, err := f.s.Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if d.Comment != "Imported from -" || d.DockerVersion != "1.7.1" || d.Parent != "" || d.Config == nil || d.Size != int64(len("hello world\n")+len("hi")) || d.VirtualSize != d.Size {
		t.Errorf("inspect: %+v", d)
	}
	if d.Architecture == "" || d.OS != "linux" || time.Since(d.Created) > time.Minute {
		t.Errorf("inspect: %+v", d)
	}
	var raw map[string]any
	if err := json.Unmarshal(d.Raw, &raw); err != nil || raw["id"] != id || raw["container_config"] == nil {
		t.Errorf("raw: %s", d.Raw)
	}
	if n, _ := f.s.Count(ctx); n != 1 {
		t.Errorf("Count = %d", n)
	}
	// The layer holds the files.
	dir, err := f.d.Get(ctx, id, storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bin/hello"))
	f.d.Put(ctx, id)
	if err != nil || string(b) != "hello world\n" {
		t.Fatalf("layer content %q %v", b, err)
	}
	// Metadata survives a restart.
	f.reopen(t)
	if rec, err := f.s.Get(ctx, "busybox"); err != nil || rec.ID != id {
		t.Fatalf("after reopen: %v %v", rec, err)
	}
}

func TestImportCompressedAndOptions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(imagetest.Tar(t, map[string]string{"a": "x"}))
	zw.Close()
	id, err := f.s.Import(ctx, ImportOptions{
		Src: "-", Body: &gz, Repo: "me/app:1", Tag: "2", Message: "hand made",
		Changes: []string{`CMD ["/bin/sh"]`, "ENV A=1", "LABEL k=v"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.s.Inspect(ctx, "me/app:2")
	if err != nil || d.ID != id {
		t.Fatalf("tag param should win: %v %v", d, err)
	}
	if d.Comment != "hand made" || d.Config.Cmd[0] != "/bin/sh" || d.Config.Env[0] != "A=1" || d.Config.Labels["k"] != "v" || d.Size != 1 {
		t.Fatalf("%+v", d)
	}
	// Import moves a tag without force (Docker 1.7 tagged imports with force).
	id2 := f.importTar(t, "me/app:2", imagetest.Tar(t, map[string]string{"b": "y"}))
	if rec, _ := f.s.Get(ctx, "me/app:2"); rec.ID != id2 {
		t.Fatal("import did not move the tag")
	}
}

func TestImportFailureRegistersNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	keep := f.importTar(t, "busybox", imagetest.Tar(t, map[string]string{"ok": "ok"}))
	good := imagetest.Tar(t, map[string]string{"file": strings.Repeat("x", 4096)})

	var escaping bytes.Buffer
	tw := tar.NewWriter(&escaping)
	tw.WriteHeader(&tar.Header{Name: "../../escaped", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()

	for name, body := range map[string][]byte{
		"truncated": good[:1000],
		"garbage":   bytes.Repeat([]byte("not a tar "), 200),
		"escaping":  escaping.Bytes(),
	} {
		_, err := f.s.Import(ctx, ImportOptions{Src: "-", Body: bytes.NewReader(body), Repo: "busybox"})
		if !errdefs.IsInvalidParameter(err) {
			t.Errorf("%s: %v, want InvalidParameter", name, err)
		}
	}
	if n, _ := f.s.Count(ctx); n != 1 {
		t.Errorf("Count = %d after failed imports", n)
	}
	if rec, err := f.s.Get(ctx, "busybox"); err != nil || rec.ID != keep {
		t.Errorf("existing tag touched: %v %v", rec, err)
	}
	if p := f.pending(t); len(p) != 0 {
		t.Errorf("pending records left: %v", p)
	}
	// Bad names are refused before any layer is made.
	for _, repo := range []string{"Bad", "a@sha256:" + strings.Repeat("0", 64)} {
		if _, err := f.s.Import(ctx, ImportOptions{Src: "-", Body: bytes.NewReader(good), Repo: repo}); !errdefs.IsInvalidParameter(err) {
			t.Errorf("repo %q: %v", repo, err)
		}
	}
	if _, err := f.s.Import(ctx, ImportOptions{Src: "ftp://x/y", Repo: "x"}); !errdefs.IsInvalidParameter(err) {
		t.Errorf("ftp: %v", err)
	}
}

func TestImportCancelledRemovesLayer(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	go func() {
		w.Write(imagetest.Tar(t, map[string]string{"a": "b"})[:512])
		cancel()
		time.Sleep(100 * time.Millisecond)
		w.CloseWithError(context.Canceled)
	}()
	if _, err := f.s.Import(ctx, ImportOptions{Src: "-", Body: r}); err == nil {
		t.Fatal("cancelled import succeeded")
	}
	if n, _ := f.s.Count(context.Background()); n != 0 {
		t.Fatal("image registered")
	}
	if p := f.pending(t); len(p) != 0 {
		t.Fatalf("pending left: %v", p)
	}
}

// A crash between the pending record and the image record leaves a layer
// no image owns; the next start removes it.
func TestLeftoverPendingLayerRemovedAtStart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	keep := f.importTar(t, "busybox", imagetest.Tar(t, map[string]string{"a": "b"}))
	orphan := strings.Repeat("ab", 32)
	if err := f.s.db.Update(func(tx *bolt.Tx) error { return putPending(tx, orphan, pendingImport) }); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Create(ctx, orphan, "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// And a pending record whose layer was never created.
	if err := f.s.db.Update(func(tx *bolt.Tx) error { return putPending(tx, strings.Repeat("cd", 32), pendingImport) }); err != nil {
		t.Fatal(err)
	}
	f.reopen(t)
	if f.exists(t, orphan) {
		t.Error("orphan layer survived the restart")
	}
	if !f.exists(t, keep) {
		t.Error("the image's layer was removed")
	}
	if p := f.pending(t); len(p) != 0 {
		t.Errorf("pending left: %v", p)
	}
}

func TestTag(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.importTar(t, "a", imagetest.Tar(t, map[string]string{"a": "a"}))
	b := f.importTar(t, "b", imagetest.Tar(t, map[string]string{"b": "b"}))
	if err := f.s.Tag(ctx, "a", "shared", "v1", false); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Tag(ctx, a[:12], "shared", "v1", false); err != nil {
		t.Errorf("re-tagging the same image: %v", err)
	}
	err := f.s.Tag(ctx, "b", "shared", "v1", false)
	want := "Conflict: Tag v1 is already set to image " + a + ", if you want to replace it, please use -f option"
	if !errdefs.IsConflict(err) || err.Error() != want {
		t.Errorf("got %v", err)
	}
	if err := f.s.Tag(ctx, "b", "shared", "v1", true); err != nil {
		t.Fatal(err)
	}
	if rec, _ := f.s.Get(ctx, "shared:v1"); rec.ID != b {
		t.Error("force did not move the tag")
	}
	if err := f.s.Tag(ctx, "b", "withtag:x", "", false); err != nil {
		t.Errorf("repo:tag in repo: %v", err)
	}
	for _, c := range [][2]string{{"", "x"}, {"UPPER", ""}, {"ok", "-bad"}} {
		if err := f.s.Tag(ctx, "b", c[0], c[1], false); !errdefs.IsInvalidParameter(err) {
			t.Errorf("Tag(%q,%q) = %v", c[0], c[1], err)
		}
	}
	if err := f.s.Tag(ctx, "nope", "x", "", false); !errdefs.IsNotFound(err) || err.Error() != "No such image: nope" {
		t.Errorf("unknown image: %v", err)
	}
}

func TestListShapes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := f.importTar(t, "", imagetest.Tar(t, map[string]string{"a": "12345"}))
	mid := f.addChild(t, base, "")
	top := f.addChild(t, mid, "app:1")
	dangling := f.importTar(t, "", imagetest.Tar(t, map[string]string{"d": "d"}))
	other := f.importTar(t, "other/thing", imagetest.Tar(t, map[string]string{"o": "o"}))

	ids := func(l []Summary) map[string]Summary {
		m := map[string]Summary{}
		for _, s := range l {
			m[s.ID] = s
		}
		return m
	}
	l, err := f.s.List(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := ids(l)
	if len(m) != 3 || m[top].ParentID != mid || m[top].VirtualSize != 5 || m[top].RepoTags[0] != "app:1" || m[dangling].RepoTags != nil || m[other].RepoTags[0] != "other/thing:latest" {
		t.Errorf("all=0: %+v", l)
	}
	if l, _ := f.s.List(ctx, ListOptions{All: true}); len(l) != 5 {
		t.Errorf("all=1: %d images", len(l))
	}
	if l, _ := f.s.List(ctx, ListOptions{Filters: map[string][]string{"dangling": {"true"}}}); len(l) != 1 || l[0].ID != dangling {
		t.Errorf("dangling: %+v", l)
	}
	if l, _ := f.s.List(ctx, ListOptions{Filter: "oth*/*"}); len(l) != 1 || l[0].ID != other {
		t.Errorf("filter: %+v", l)
	}
	if _, err := f.s.List(ctx, ListOptions{Filters: map[string][]string{"nope": {"x"}}}); !errdefs.IsInvalidParameter(err) {
		t.Errorf("bad filter: %v", err)
	}
	if _, err := f.s.List(ctx, ListOptions{Filters: map[string][]string{"dangling": {"maybe"}}}); !errdefs.IsInvalidParameter(err) {
		t.Errorf("bad dangling: %v", err)
	}
	h, err := f.s.History(ctx, "app:1")
	if err != nil || len(h) != 3 || h[0].ID != top || h[2].ID != base || h[0].Tags[0] != "app:1" || h[0].CreatedBy != "/bin/sh -c true" || h[2].Comment != "Imported from -" {
		t.Errorf("history: %+v %v", h, err)
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.importTar(t, "busybox", imagetest.Tar(t, map[string]string{"a": "a"}))
	if err := f.s.Tag(ctx, id, "busybox", "1", false); err != nil {
		t.Fatal(err)
	}
	rows, err := f.s.Delete(ctx, "busybox:1", false, false)
	if err != nil || len(rows) != 1 || rows[0].Untagged != "busybox:1" {
		t.Fatalf("untag: %+v %v", rows, err)
	}
	if err := f.s.Tag(ctx, id, "elsewhere", "", false); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Delete(ctx, id, false, false)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "tagged in multiple repositories") {
		t.Fatalf("multi-repo by id: %v", err)
	}
	rows, err = f.s.Delete(ctx, id[:12], true, false)
	if err != nil || len(rows) != 3 || rows[2].Deleted != id {
		t.Fatalf("forced: %+v %v", rows, err)
	}
	if f.exists(t, id) {
		t.Error("layer survived")
	}
	if _, err := f.s.Delete(ctx, "busybox", false, false); !errdefs.IsNotFound(err) || err.Error() != "No such image: busybox" {
		t.Errorf("gone: %v", err)
	}
	if p := f.pending(t); len(p) != 0 {
		t.Errorf("pending left: %v", p)
	}
}

func TestDeleteChildrenAndPrune(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := f.importTar(t, "base", imagetest.Tar(t, map[string]string{"a": "a"}))
	mid := f.addChild(t, base, "")
	top := f.addChild(t, mid, "app")

	if _, err := f.s.Delete(ctx, mid, false, false); !errdefs.IsConflict(err) || err.Error() != "Conflict, "+mid+" wasn't deleted" {
		t.Fatalf("parent by id: %v", err)
	}
	// By name with children: untag only.
	rows, err := f.s.Delete(ctx, "base", false, false)
	if err != nil || len(rows) != 1 || rows[0].Untagged != "base:latest" || !f.exists(t, base) {
		t.Fatalf("untag parent: %+v %v", rows, err)
	}
	// Deleting the top prunes the untagged chain, child first.
	rows, err = f.s.Delete(ctx, "app", false, false)
	want := []DeleteResult{{Untagged: "app:latest"}, {Deleted: top}, {Deleted: mid}, {Deleted: base}}
	if err != nil || len(rows) != len(want) {
		t.Fatalf("prune: %+v %v", rows, err)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
	for _, id := range []string{top, mid, base} {
		if f.exists(t, id) {
			t.Errorf("layer %s survived", id)
		}
	}

	// noprune keeps the parent.
	base = f.importTar(t, "", imagetest.Tar(t, map[string]string{"a": "a"}))
	top = f.addChild(t, base, "app")
	rows, err = f.s.Delete(ctx, "app", false, true)
	if err != nil || len(rows) != 2 || !f.exists(t, base) {
		t.Fatalf("noprune: %+v %v", rows, err)
	}
}

// A layer that cannot be removed after its image was deleted is not lost:
// its pending record makes the next start remove it.
func TestFailedLayerRemovalRetriedAtStart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.importTar(t, "busybox", imagetest.Tar(t, map[string]string{"a": "a"}))
	if _, err := f.d.Get(ctx, id, storage.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	rows, err := f.s.Delete(ctx, "busybox", false, false)
	if err != nil || len(rows) != 2 {
		t.Fatalf("%+v %v", rows, err)
	}
	if !f.exists(t, id) {
		t.Skip("the driver removed a mounted layer; nothing to retry")
	}
	if p := f.pending(t); len(p) != 1 || p[0] != id {
		t.Fatalf("pending = %v", p)
	}
	if err := f.d.Put(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.reopen(t)
	if f.exists(t, id) {
		t.Error("layer still there after restart")
	}
	if p := f.pending(t); len(p) != 0 {
		t.Errorf("pending left: %v", p)
	}
}

func TestDeleteRefusesImagesInUse(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.importTar(t, "busybox", imagetest.Tar(t, map[string]string{"a": "a"}))
	running := true
	f.s.imageUsers = func(context.Context) ([]ImageUser, error) {
		return []ImageUser{{ContainerID: strings.Repeat("c", 64), ImageID: id, Running: running}}, nil
	}
	if _, err := f.s.Delete(ctx, "busybox", true, false); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "running container cccccccccccc") {
		t.Fatalf("running: %v", err)
	}
	running = false
	if _, err := f.s.Delete(ctx, "busybox", false, false); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "use -f to force") {
		t.Fatalf("stopped: %v", err)
	}
	if _, err := f.s.Get(ctx, "busybox"); err != nil {
		t.Fatal("refused delete changed something")
	}
	f.s.imageUsers = func(context.Context) ([]ImageUser, error) { return nil, errors.New("boom") }
	if _, err := f.s.Delete(ctx, "busybox", false, false); err == nil {
		t.Fatal("container listing error ignored")
	}
}

func TestConcurrentImportsAndDeletes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 8
	ids := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		// Built here: t.Fatal must not run on another goroutine.
		body := imagetest.Tar(t, map[string]string{"f": strings.Repeat("x", i)})
		go func() {
			id, err := f.s.Import(ctx, ImportOptions{Src: "-", Body: bytes.NewReader(body), Repo: "same:tag"})
			ids <- id
			errs <- err
		}()
	}
	var all []string
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		all = append(all, <-ids)
	}
	if c, _ := f.s.Count(ctx); c != n {
		t.Fatalf("Count = %d", c)
	}
	done := make(chan error, n)
	for _, id := range all {
		go func() {
			_, err := f.s.Delete(ctx, id, true, false)
			done <- err
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if c, _ := f.s.Count(ctx); c != 0 {
		t.Fatalf("Count = %d after deleting all", c)
	}
	if p := f.pending(t); len(p) != 0 {
		t.Fatalf("pending left: %v", p)
	}
}

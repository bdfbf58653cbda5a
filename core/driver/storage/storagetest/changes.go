package storagetest

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/driver/storage"
)

func changesChecks() []check {
	return []check{
		{"WholeLayer", checkChangesWholeLayer},
		{"Applied", checkChangesApplied},
		{"Mounted", checkChangesMounted},
		{"BelowOpaque", checkChangesBelowOpaque},
		{"DiffSize", checkDiffSize},
		{"ApplyDiffSize", checkApplyDiffSize},
	}
}

// assertChanges checks got against want. A driver may also report a
// directory as modified when something below it changed (Docker does, to
// carry the directory's metadata); nothing else may be extra.
func assertChanges(t testing.TB, got []storage.Change, layer tree, want []storage.Change) {
	t.Helper()
	if !slices.IsSortedFunc(got, func(a, b storage.Change) int { return strings.Compare(a.Path, b.Path) }) {
		t.Errorf("Changes are not sorted by path: %v", got)
	}
	byPath := map[string]storage.ChangeKind{}
	for _, c := range got {
		if _, dup := byPath[c.Path]; dup {
			t.Errorf("Changes lists %s twice: %v", c.Path, got)
		}
		byPath[c.Path] = c.Kind
	}
	for _, w := range want {
		k, ok := byPath[w.Path]
		switch {
		case !ok:
			t.Errorf("Changes lacks %s (%s); got %v", w.Path, kindName(w.Kind), got)
		case k != w.Kind:
			t.Errorf("Changes has %s as %s, want %s", w.Path, kindName(k), kindName(w.Kind))
		}
	}
	for _, c := range got {
		if slices.ContainsFunc(want, func(w storage.Change) bool { return w.Path == c.Path }) {
			continue
		}
		isDir := c.Path == "/" || layer[strings.TrimPrefix(c.Path, "/")].Type == "dir"
		ancestor := slices.ContainsFunc(want, func(w storage.Change) bool {
			return c.Path == "/" || strings.HasPrefix(w.Path, c.Path+"/")
		})
		if c.Kind != storage.ChangeModify || !isDir || !ancestor {
			t.Errorf("Changes has an unexpected %s %s; want %v (plus modified parent directories)", kindName(c.Kind), c.Path, want)
		}
	}
}

func kindName(k storage.ChangeKind) string {
	switch k {
	case storage.ChangeAdd:
		return "Add"
	case storage.ChangeModify:
		return "Modify"
	case storage.ChangeDelete:
		return "Delete"
	}
	return "kind?"
}

func checkChangesWholeLayer(h *harness) {
	t := h.t
	id := h.layer("", regular("a", "A"), directory("d"), regular("d/b", "B"), symlink("d/l", "b"), directory("e"))
	want := []storage.Change{
		{Path: "/a", Kind: storage.ChangeAdd},
		{Path: "/d", Kind: storage.ChangeAdd},
		{Path: "/d/b", Kind: storage.ChangeAdd},
		{Path: "/d/l", Kind: storage.ChangeAdd},
		{Path: "/e", Kind: storage.ChangeAdd},
	}
	got := h.changes(id, "")
	assertChanges(t, got, h.snapshot(id), want)
	if len(got) != len(want) {
		t.Errorf("Changes with no parent = %v, want exactly %v", got, want)
	}
}

// changesParent has names without characters sorting before '/', so that
// "sorted by path" means the same by string and by component.
func changesParent(h *harness) string {
	return h.layer("",
		regular("a", "A"), regular("del", "D"), regular("keep", "K"),
		directory("dir"), regular("dir/b", "B"), regular("dir/c", "C"),
		directory("deldir"), regular("deldir/x", "X"), regular("mode", "M"))
}

func checkChangesApplied(h *harness) {
	t := h.t
	parent := changesParent(h)
	child := h.layer(parent,
		regular("a", "changed"),
		whiteout("del"), whiteout("deldir"),
		regular("dir/new", "N"),
		directory("newdir"), regular("newdir/f", "F"),
		regular("mode", "M").with(func(hd *tarHeader) { hd.Mode = 0o600 }))
	assertChanges(t, h.changes(child, parent), h.snapshot(child), []storage.Change{
		{Path: "/a", Kind: storage.ChangeModify},
		{Path: "/del", Kind: storage.ChangeDelete},
		{Path: "/deldir", Kind: storage.ChangeDelete},
		{Path: "/dir/new", Kind: storage.ChangeAdd},
		{Path: "/mode", Kind: storage.ChangeModify},
		{Path: "/newdir", Kind: storage.ChangeAdd},
		{Path: "/newdir/f", Kind: storage.ChangeAdd},
	})
}

func checkChangesMounted(h *harness) {
	t := h.t
	parent := changesParent(h)
	child := h.create(parent)
	root := h.get(child)
	must(t, osWriteFile(root+"/a", "changed"))
	must(t, os.Remove(root+"/del"))
	must(t, os.RemoveAll(root+"/deldir"))
	must(t, osWriteFile(root+"/dir/new", "N"))
	must(t, os.Mkdir(root+"/newdir", 0o755))
	must(t, osWriteFile(root+"/newdir/f", "F"))
	must(t, os.Chmod(root+"/mode", 0o600))
	h.put(child)
	assertChanges(t, h.changes(child, parent), h.snapshot(child), []storage.Change{
		{Path: "/a", Kind: storage.ChangeModify},
		{Path: "/del", Kind: storage.ChangeDelete},
		{Path: "/deldir", Kind: storage.ChangeDelete},
		{Path: "/dir/new", Kind: storage.ChangeAdd},
		{Path: "/mode", Kind: storage.ChangeModify},
		{Path: "/newdir", Kind: storage.ChangeAdd},
		{Path: "/newdir/f", Kind: storage.ChangeAdd},
	})
}

// checkDiffSize: in a layer of regular files and directories, the size
// of the changes is the size of the files (Docker's ChangesSize counts
// every changed non-directory once).
func checkDiffSize(h *harness) {
	t := h.t
	parent := h.layer("",
		regular("a", strings.Repeat("a", 100)), directory("d"),
		regular("d/b", strings.Repeat("b", 2000)), regular("d/c", "12345"))
	if got := h.diffSize(parent, ""); got != 2105 {
		t.Errorf("DiffSize of a layer with 100+2000+5 bytes of files = %d, want 2105", got)
	}
	child := h.layer(parent, regular("d/n", strings.Repeat("n", 7)), regular("m", strings.Repeat("m", 300)), whiteout("a"))
	if got := h.diffSize(child, parent); got != 307 {
		t.Errorf("DiffSize of a child adding 7+300 bytes of files and deleting one = %d, want 307", got)
	}
	mounted := h.create(child)
	root := h.get(mounted)
	must(t, osWriteFile(root+"/w", strings.Repeat("w", 4096)))
	h.put(mounted)
	if got := h.diffSize(mounted, child); got != 4096 {
		t.Errorf("DiffSize of a mounted layer after writing 4096 bytes = %d, want 4096", got)
	}
}

// checkApplyDiffSize: ApplyDiff returns the bytes of file content written.
func checkApplyDiffSize(h *harness) {
	t := h.t
	id := h.create("")
	n := h.apply(id, "", buildTar(t,
		regular("a", strings.Repeat("a", 1000)), directory("d"),
		regular("d/b", strings.Repeat("b", 24)), symlink("l", "a")))
	if n != 1024 {
		t.Errorf("ApplyDiff of 1000+24 bytes of files returned %d, want 1024", n)
	}
}

// checkChangesBelowOpaque: below a directory a layer made opaque, the
// layer's tree is compared with what the parent showed at every depth:
// what the layer holds again is modified (files) or unchanged (a
// directory with the same metadata), what it adds is added, and what the
// parent showed and the layer does not hold is deleted, however deep.
func checkChangesBelowOpaque(h *harness) {
	t := h.t
	parent := h.layer("",
		directory("dir"), regular("dir/a", "A"),
		directory("dir/sub"), regular("dir/sub/b", "B"), regular("dir/sub/c", "C"),
		directory("dir/sub/deep"), regular("dir/sub/deep/d", "D"),
		directory("dir/gone"), regular("dir/gone/g", "G"))
	child := h.layer(parent, directory("dir"), opaque("dir"),
		directory("dir/sub"), regular("dir/sub/b", "new B"),
		directory("dir/sub/deep"), regular("dir/sub/deep/e", "E"),
		regular("dir/n", "N"))
	assertChanges(t, h.changes(child, parent), h.snapshot(child), []storage.Change{
		{Path: "/dir/a", Kind: storage.ChangeDelete},
		{Path: "/dir/gone", Kind: storage.ChangeDelete},
		{Path: "/dir/n", Kind: storage.ChangeAdd},
		{Path: "/dir/sub/b", Kind: storage.ChangeModify},
		{Path: "/dir/sub/c", Kind: storage.ChangeDelete},
		{Path: "/dir/sub/deep/d", Kind: storage.ChangeDelete},
		{Path: "/dir/sub/deep/e", Kind: storage.ChangeAdd},
	})
}

package storagetest

import (
	"os"
	"slices"

	"github.com/pluggd/pluggd/core/driver/storage"
)

func whiteoutChecks() []check {
	return []check{
		{"File", checkWhiteoutFile},
		{"Directory", checkWhiteoutDirectory},
		{"DirectoryRecreated", checkWhiteoutDirectoryRecreated},
		{"Opaque", checkOpaque},
		{"OpaqueAfterNewFiles", checkOpaqueAfterNewFiles},
		{"OpaqueBelowGrandchild", checkOpaqueBelowGrandchild},
		{"DeleteInMountedChild", checkDeleteInMountedChild},
		{"RecreateDirInMountedChild", checkRecreateDirInMountedChild},
	}
}

// whiteoutParent is the parent of most whiteout checks.
func whiteoutParent(h *harness) string {
	return h.layer("",
		regular("file", "F"), regular("keep", "K"),
		directory("dir"), regular("dir/a", "A"), directory("dir/sub"), regular("dir/sub/b", "B"),
		directory("other"), regular("other/x", "X"))
}

func checkWhiteoutFile(h *harness) {
	t := h.t
	parent := whiteoutParent(h)
	before := h.snapshot(parent)
	child := h.layer(parent, whiteout("file"), whiteout("dir/a"))
	root := h.mount(child)
	// The markers themselves are never visible.
	assertDirHolds(t, root, ".", "dir", "keep", "other")
	assertDirHolds(t, root, "dir", "sub")
	assertContent(t, root, "keep", "K")
	compareTrees(t, "parent of a layer with whiteouts", before, h.snapshot(parent))
}

func checkWhiteoutDirectory(h *harness) {
	t := h.t
	parent := whiteoutParent(h)
	child := h.layer(parent, whiteout("dir"))
	root := h.mount(child)
	assertDirHolds(t, root, ".", "file", "keep", "other")
	assertContent(t, root, "other/x", "X")
}

// checkWhiteoutDirectoryRecreated: Docker's own diffs of "rm -rf dir;
// mkdir dir" sort ".wh.dir" before "dir/", so the whiteout comes first.
func checkWhiteoutDirectoryRecreated(h *harness) {
	t := h.t
	parent := whiteoutParent(h)
	child := h.layer(parent, whiteout("dir"), directory("dir"), regular("dir/new", "N"))
	root := h.mount(child)
	assertDirHolds(t, root, "dir", "new")
	assertContent(t, root, "dir/new", "N")
}

func checkOpaque(h *harness) {
	t := h.t
	parent := whiteoutParent(h)
	before := h.snapshot(parent)
	child := h.layer(parent, directory("dir"), opaque("dir"), regular("dir/new", "N"), directory("dir/sub"), regular("dir/sub/c", "C"))
	root := h.mount(child)
	assertDirHolds(t, root, "dir", "new", "sub")
	assertDirHolds(t, root, "dir/sub", "c")
	assertContent(t, root, "dir/new", "N")
	assertDirHolds(t, root, ".", "dir", "file", "keep", "other")
	assertContent(t, root, "other/x", "X")
	compareTrees(t, "parent of a layer with an opaque directory", before, h.snapshot(parent))
}

// checkOpaqueAfterNewFiles: the marker hides only the parents' content,
// so files the same layer wrote before the marker came stay.
func checkOpaqueAfterNewFiles(h *harness) {
	t := h.t
	parent := whiteoutParent(h)
	child := h.layer(parent, regular("dir/new", "N"), directory("dir/newsub"), regular("dir/newsub/n", "n"), opaque("dir"))
	root := h.mount(child)
	assertDirHolds(t, root, "dir", "new", "newsub")
	assertContent(t, root, "dir/new", "N")
	assertContent(t, root, "dir/newsub/n", "n")
}

func checkOpaqueBelowGrandchild(h *harness) {
	t := h.t
	parent := whiteoutParent(h)
	child := h.layer(parent, opaque("dir"), regular("dir/new", "N"))
	grandchild := h.layer(child, regular("dir/more", "M"))
	container := h.create(grandchild)
	for _, id := range []string{grandchild, container} {
		root := h.mount(id)
		assertDirHolds(t, root, "dir", "more", "new")
	}
}

// checkDeleteInMountedChild deletes through the mount, as a container
// does, and checks Diff and Changes record the deletions.
func checkDeleteInMountedChild(h *harness) {
	t := h.t
	parent := whiteoutParent(h)
	child := h.create(parent)
	root := h.get(child)
	must(t, os.Remove(root+"/file"))
	must(t, os.RemoveAll(root+"/dir"))
	must(t, os.Remove(root+"/other/x"))
	h.put(child)

	entries, _ := parseTar(t, "Diff of a layer with deletions", h.diff(child, parent))
	for _, w := range []string{".wh.file", ".wh.dir", "other/.wh.x"} {
		if _, ok := entries[w]; !ok {
			t.Errorf("Diff lacks the whiteout %q; it has %q", w, sortedKeys(entries))
		}
	}
	for name := range entries {
		if name == "dir" || len(name) > 4 && name[:4] == "dir/" {
			t.Errorf("Diff has %q below the deleted /dir", name)
		}
	}
	assertChanges(t, h.changes(child, parent), h.snapshot(child), []storage.Change{
		{Path: "/dir", Kind: storage.ChangeDelete},
		{Path: "/file", Kind: storage.ChangeDelete},
		{Path: "/other/x", Kind: storage.ChangeDelete},
	})
	h.assertDiffRoundTrips(child, parent)
}

// checkRecreateDirInMountedChild: a directory removed and made again in a
// container must come out of Diff so that the parents' files stay hidden
// (overlay marks such a directory opaque).
func checkRecreateDirInMountedChild(h *harness) {
	t := h.t
	parent := whiteoutParent(h)
	child := h.create(parent)
	root := h.get(child)
	must(t, os.RemoveAll(root+"/dir"))
	must(t, os.Mkdir(root+"/dir", 0o755))
	must(t, osWriteFile(root+"/dir/new", "N"))
	h.put(child)
	assertDirHolds(t, h.mount(child), "dir", "new")
	h.assertDiffRoundTrips(child, parent)
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package storagetest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func parentChecks() []check {
	return []check{
		{"ParentFilesVisible", checkParentFilesVisible},
		{"ChildWritesDoNotLeak", checkChildWritesDoNotLeak},
		{"SiblingsAreIndependent", checkSiblingsAreIndependent},
		{"Chain", checkChain},
		{"DeepChain", checkDeepChain},
	}
}

func checkParentFilesVisible(h *harness) {
	t := h.t
	parent := h.layer("", regular("a", "A"), directory("dir"), regular("dir/b", "B"), symlink("l", "a"))
	child := h.create(parent)
	root := h.mount(child)
	assertContent(t, root, "a", "A")
	assertContent(t, root, "dir/b", "B")
	assertContent(t, root, "l", "A")
	assertDirHolds(t, root, ".", "a", "dir", "l")
}

// checkChildWritesDoNotLeak writes into a mounted child in every way a
// container can and checks the parent still shows its own tree.
func checkChildWritesDoNotLeak(h *harness) {
	t := h.t
	parent := h.layer("",
		regular("a", "A"), directory("dir"), regular("dir/b", "B"), regular("dir/c", "C"),
		regular("mode", "m"), directory("gone"), regular("gone/x", "x"))
	before := h.snapshot(parent)
	child := h.create(parent)
	root := h.get(child)
	must(t, os.WriteFile(root+"/new", []byte("N"), 0o644))
	must(t, os.WriteFile(root+"/a", []byte("changed"), 0o644))
	f, err := os.OpenFile(root+"/dir/c", os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString("+more")
	must(t, err)
	must(t, f.Close())
	must(t, os.Remove(root+"/dir/b"))
	must(t, os.Chmod(root+"/mode", 0o600))
	must(t, os.RemoveAll(root+"/gone"))
	must(t, os.Rename(root+"/a", root+"/a2"))
	must(t, os.Mkdir(root+"/newdir", 0o700))
	assertContent(t, root, "a2", "changed")
	assertContent(t, root, "dir/c", "C+more")
	assertAbsent(t, root, "dir/b")
	h.put(child)

	compareTrees(t, "parent after its child was written", before, h.snapshot(parent))
	// And the child kept its writes after Put.
	root = h.mount(child)
	assertDirHolds(t, root, ".", "a2", "dir", "mode", "new", "newdir")
	assertContent(t, root, "dir/c", "C+more")
}

func checkSiblingsAreIndependent(h *harness) {
	t := h.t
	parent := h.layer("", regular("shared", "S"))
	a := h.layer(parent, regular("a", "A"), regular("shared", "from a"))
	b := h.layer(parent, regular("b", "B"), whiteout("shared"))
	ra, rb := h.mount(a), h.mount(b)
	assertDirHolds(t, ra, ".", "a", "shared")
	assertContent(t, ra, "shared", "from a")
	assertDirHolds(t, rb, ".", "b")
	assertDirHolds(t, h.mount(parent), ".", "shared")
	assertContent(t, h.mount(parent), "shared", "S")
}

// checkChain stacks four layers that add, replace and delete, and checks
// each level shows exactly its own view.
func checkChain(h *harness) {
	t := h.t
	l1 := h.layer("", regular("a", "1"), directory("d"), regular("d/x", "1"))
	l2 := h.layer(l1, regular("a", "2"), regular("b", "2"))
	l3 := h.layer(l2, whiteout("b"), regular("c", "3"), whiteout("d/x"))
	l4 := h.create(l3)
	want := []struct {
		id      string
		names   []string
		content map[string]string
	}{
		{l1, []string{"a", "d"}, map[string]string{"a": "1", "d/x": "1"}},
		{l2, []string{"a", "b", "d"}, map[string]string{"a": "2", "b": "2", "d/x": "1"}},
		{l3, []string{"a", "c", "d"}, map[string]string{"a": "2", "c": "3"}},
		{l4, []string{"a", "c", "d"}, map[string]string{"a": "2", "c": "3"}},
	}
	for i, w := range want {
		root := h.mount(w.id)
		t.Run(fmt.Sprintf("layer%d", i+1), func(t *testing.T) {
			assertDirHolds(t, root, ".", w.names...)
			for p, c := range w.content {
				assertContent(t, root, p, c)
			}
		})
	}
	assertDirHolds(t, h.mount(l3), "d")
}

// checkDeepChain stacks 100 layers (Docker 1.7 allows up to 125 for an
// image), each adding a file and rewriting one, and checks a container
// layer on top sees all of them.
func checkDeepChain(h *harness) {
	t := h.t
	const depth = 100
	parent := ""
	var names []string
	for i := range depth {
		name := fmt.Sprintf("f%03d", i)
		names = append(names, name)
		parent = h.layer(parent, regular(name, name), regular("top", name))
	}
	top := h.create(parent)
	root := h.mount(top)
	want := append(slices.Clone(names), "top")
	assertDirHolds(t, root, ".", want...)
	for _, n := range names {
		assertContent(t, root, n, n)
	}
	assertContent(t, root, "top", names[depth-1])
	must(t, os.WriteFile(filepath.Join(root, "container"), []byte("c"), 0o644))
	assertContent(t, root, "container", "c")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

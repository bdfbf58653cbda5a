package storagetest

import (
	"errors"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

func inUseChecks() []check {
	return []check{
		{"RemoveMounted", checkRemoveMounted},
		{"RemoveWithChild", checkRemoveWithChild},
	}
}

func assertInUse(h *harness, err error, why string) {
	h.t.Helper()
	if !errors.Is(err, storage.ErrLayerInUse) {
		h.t.Errorf("Remove of a layer %s = %v, want ErrLayerInUse", why, err)
	} else if !errdefs.IsConflict(err) {
		h.t.Errorf("Remove of a layer %s = %v, want class conflict", why, err)
	}
}

func checkRemoveMounted(h *harness) {
	t := h.t
	parent := h.layer("", regular("p", "P"))
	for _, id := range []string{parent, h.layer(parent, regular("c", "C"))} {
		root := h.get(id)
		assertInUse(h, h.d.Remove(h.ctx, id), "mounted by Get")
		if !h.exists(id) {
			t.Fatalf("refused Remove deleted %s", short(id))
		}
		// Intact and usable through the same directory.
		assertContent(t, root, "p", "P")
		must(t, osWriteFile(root+"/w", "W"))
		assertContent(t, root, "w", "W")
		h.put(id)
		if id != parent {
			h.remove(id)
			if h.exists(id) {
				t.Errorf("Exists(%s) after Remove = true", short(id))
			}
		}
	}
	h.remove(parent)
	if h.exists(parent) {
		t.Errorf("Exists(%s) after Remove = true", short(parent))
	}
}

func checkRemoveWithChild(h *harness) {
	t := h.t
	grand := h.layer("", regular("g", "G"))
	parent := h.layer(grand, regular("p", "P"))
	child := h.layer(parent, regular("c", "C"))
	for _, id := range []string{grand, parent} {
		assertInUse(h, h.d.Remove(h.ctx, id), "with a child")
		if !h.exists(id) {
			t.Fatalf("refused Remove deleted %s", short(id))
		}
	}
	before := h.snapshot(parent)
	root := h.get(child)
	assertContent(t, root, "g", "G")
	assertContent(t, root, "p", "P")
	assertContent(t, root, "c", "C")
	h.put(child)
	compareTrees(t, "parent after a refused Remove", before, h.snapshot(parent))
	for _, id := range []string{child, parent, grand} {
		h.remove(id)
		if h.exists(id) {
			t.Errorf("Exists(%s) after Remove = true", short(id))
		}
	}
}

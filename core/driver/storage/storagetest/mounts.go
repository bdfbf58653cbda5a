package storagetest

import (
	"os"
	"sync"

	"github.com/pluggd/pluggd/core/errdefs"
)

func mountChecks() []check {
	return []check{
		{"GetIsReferenceCounted", checkGetIsReferenceCounted},
		{"PutWithoutGet", checkPutWithoutGet},
		{"ConcurrentGetPut", checkConcurrentGetPut},
	}
}

func checkGetIsReferenceCounted(h *harness) {
	t := h.t
	id := h.layer("", regular("f", "F"))
	child := h.create(id)
	first := h.get(child)
	second := h.get(child)
	if first != second {
		t.Errorf("two Gets returned %q and %q, want the same directory", first, second)
	}
	h.put(child)
	// One reference is left: the directory still works, for reads and
	// writes.
	assertContent(t, second, "f", "F")
	must(t, os.WriteFile(second+"/g", []byte("G"), 0o644))
	assertContent(t, second, "g", "G")
	h.put(child)
	if err := h.d.Put(h.ctx, child); !errdefs.IsInvalidParameter(err) {
		t.Errorf("third Put after two Gets = %v, want class invalid parameter", err)
	}
	// The write made while one reference was left was kept.
	assertContent(t, h.mount(child), "g", "G")
}

// checkPutWithoutGet: a stray Put must not drive the count below zero,
// which would make the next Get's layer removable while mounted.
func checkPutWithoutGet(h *harness) {
	t := h.t
	parent := h.layer("", regular("f", "F"))
	id := h.create(parent)
	if err := h.d.Put(h.ctx, id); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Put without Get = %v, want class invalid parameter", err)
	}
	if !h.exists(id) {
		t.Fatal("layer vanished after a stray Put")
	}
	root := h.get(id)
	assertContent(t, root, "f", "F")
	if err := h.d.Remove(h.ctx, id); err == nil {
		t.Fatal("Remove succeeded while the layer was mounted by a Get after a stray Put: the stray Put changed the count")
	}
	assertContent(t, root, "f", "F")
	h.put(id)
	h.remove(id)
}

// checkConcurrentGetPut: the contract allows Get/Put pairs on one id
// concurrently.
func checkConcurrentGetPut(h *harness) {
	t := h.t
	parent := h.layer("", regular("f", "F"))
	id := h.create(parent)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				dir, err := h.d.Get(h.ctx, id, storageGetOptions())
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				if b, err := os.ReadFile(dir + "/f"); err != nil || string(b) != "F" {
					t.Errorf("reading /f while mounted: %q, %v", b, err)
				}
				if err := h.d.Put(h.ctx, id); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Every Get was balanced: the layer is free.
	h.remove(id)
}

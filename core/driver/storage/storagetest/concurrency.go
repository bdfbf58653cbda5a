package storagetest

import (
	"bytes"
	"fmt"
	"os"
	"sync"

	"github.com/pluggd/pluggd/core/driver/storage"
)

func concurrencyChecks() []check {
	return []check{
		{"IndependentLayers", checkConcurrentLayers},
		{"ChildrenOfOneParent", checkConcurrentChildren},
	}
}

// checkConcurrentLayers runs the daemon's whole layer life cycle on
// different ids from many goroutines at once, as pulls and container
// starts do.
func checkConcurrentLayers(h *harness) {
	t := h.t
	ctx, d := h.ctx, h.d
	var wg sync.WaitGroup
	for w := range 16 {
		own := fmt.Sprintf("worker-%d", w)
		baseTar := buildTar(t, regular("own", own), directory("d"), regular("d/f", "F"))
		childTar := buildTar(t, regular("d/g", own), whiteout("d/f"))
		wg.Go(func() {
			fail := func(format string, args ...any) {
				t.Errorf("worker %d: "+format, append([]any{w}, args...)...)
			}
			base, child := newID(), newID()
			if err := d.Create(ctx, base, "", storage.CreateOptions{}); err != nil {
				fail("Create base: %v", err)
				return
			}
			if _, err := d.ApplyDiff(ctx, base, "", bytes.NewReader(baseTar)); err != nil {
				fail("ApplyDiff base: %v", err)
				return
			}
			if err := d.Create(ctx, child, base, storage.CreateOptions{}); err != nil {
				fail("Create child: %v", err)
				return
			}
			if _, err := d.ApplyDiff(ctx, child, base, bytes.NewReader(childTar)); err != nil {
				fail("ApplyDiff child: %v", err)
				return
			}
			dir, err := d.Get(ctx, child, storage.GetOptions{})
			if err != nil {
				fail("Get: %v", err)
				return
			}
			if b, err := os.ReadFile(dir + "/own"); err != nil || string(b) != own {
				fail("/own = %q, %v; want %q", b, err, own)
			}
			if _, err := os.Lstat(dir + "/d/f"); err == nil {
				fail("/d/f is visible through its whiteout")
			}
			if err := d.Put(ctx, child); err != nil {
				fail("Put: %v", err)
			}
			rc, err := d.Diff(ctx, child, base)
			if err != nil {
				fail("Diff: %v", err)
			} else {
				var buf bytes.Buffer
				if _, err := buf.ReadFrom(rc); err != nil {
					fail("reading Diff: %v", err)
				}
				rc.Close()
			}
			if _, err := d.Changes(ctx, child, base); err != nil {
				fail("Changes: %v", err)
			}
			for _, id := range []string{child, base} {
				if err := d.Remove(ctx, id); err != nil {
					fail("Remove: %v", err)
				}
			}
		})
	}
	wg.Wait()
}

// checkConcurrentChildren: many container layers created, used and
// removed on one image at once.
func checkConcurrentChildren(h *harness) {
	t := h.t
	ctx, d := h.ctx, h.d
	image := h.layer("", regular("image", "I"))
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			id := newID()
			if err := d.Create(ctx, id, image, storage.CreateOptions{}); err != nil {
				t.Errorf("worker %d: Create: %v", w, err)
				return
			}
			dir, err := d.Get(ctx, id, storage.GetOptions{})
			if err != nil {
				t.Errorf("worker %d: Get: %v", w, err)
				return
			}
			if err := os.WriteFile(dir+"/image", fmt.Appendf(nil, "%d", w), 0o644); err != nil {
				t.Errorf("worker %d: write: %v", w, err)
			}
			if b, err := os.ReadFile(dir + "/image"); err != nil || string(b) != fmt.Sprint(w) {
				t.Errorf("worker %d: /image = %q, %v: another container's write is visible", w, b, err)
			}
			if err := d.Put(ctx, id); err != nil {
				t.Errorf("worker %d: Put: %v", w, err)
			}
			if err := d.Remove(ctx, id); err != nil {
				t.Errorf("worker %d: Remove: %v", w, err)
			}
		})
	}
	wg.Wait()
	assertContent(t, h.get(image), "image", "I")
	h.put(image)
	h.remove(image)
}

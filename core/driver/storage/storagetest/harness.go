package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"testing"

	"github.com/pluggd/pluggd/core/driver/storage"
)

// harness wraps one driver for one check: its methods call the driver and
// fail the test on an unexpected error, so checks read as the behaviour
// they assert.
type harness struct {
	t    *testing.T
	ctx  context.Context
	d    storage.Driver
	info storage.Info
}

func newHarness(t *testing.T, d storage.Driver) *harness {
	t.Helper()
	if d == nil {
		t.Fatal("NewDriver returned a nil driver")
	}
	ctx := t.Context()
	info, err := d.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	return &harness{t: t, ctx: ctx, d: d, info: info}
}

// newID returns an id shaped like the daemon's: 64 lower-case hex digits.
// Real ids matter because they make a driver's paths as long as in use.
func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// create makes a new layer on parent and returns its id.
func (h *harness) create(parent string) string {
	h.t.Helper()
	id := newID()
	h.createID(id, parent)
	return id
}

func (h *harness) createID(id, parent string) {
	h.t.Helper()
	if err := h.d.Create(h.ctx, id, parent, storage.CreateOptions{}); err != nil {
		h.t.Fatalf("Create(%s, parent %q): %v", short(id), short(parent), err)
	}
}

// apply runs ApplyDiff and returns the size it reported.
func (h *harness) apply(id, parent string, tarball []byte) int64 {
	h.t.Helper()
	n, err := h.d.ApplyDiff(h.ctx, id, parent, bytes.NewReader(tarball))
	if err != nil {
		h.t.Fatalf("ApplyDiff(%s, parent %q): %v", short(id), short(parent), err)
	}
	return n
}

// layer creates a layer on parent filled by ApplyDiff of entries.
func (h *harness) layer(parent string, entries ...tarEntry) string {
	h.t.Helper()
	id := h.create(parent)
	h.apply(id, parent, buildTar(h.t, entries...))
	return id
}

func (h *harness) get(id string) string {
	h.t.Helper()
	dir, err := h.d.Get(h.ctx, id, storage.GetOptions{})
	if err != nil {
		h.t.Fatalf("Get(%s): %v", short(id), err)
	}
	return dir
}

func (h *harness) put(id string) {
	h.t.Helper()
	if err := h.d.Put(h.ctx, id); err != nil {
		h.t.Fatalf("Put(%s): %v", short(id), err)
	}
}

// mount takes a reference released when the check ends, for checks that
// only look at a layer.
func (h *harness) mount(id string) string {
	h.t.Helper()
	dir := h.get(id)
	h.t.Cleanup(func() {
		// t.Context is already cancelled in Cleanup.
		if err := h.d.Put(context.WithoutCancel(h.ctx), id); err != nil {
			h.t.Errorf("Put(%s) at cleanup: %v", short(id), err)
		}
	})
	return dir
}

func (h *harness) remove(id string) {
	h.t.Helper()
	if err := h.d.Remove(h.ctx, id); err != nil {
		h.t.Fatalf("Remove(%s): %v", short(id), err)
	}
}

func (h *harness) exists(id string) bool {
	h.t.Helper()
	ok, err := h.d.Exists(h.ctx, id)
	if err != nil {
		h.t.Fatalf("Exists(%s): %v", short(id), err)
	}
	return ok
}

// diff returns the whole stream of Diff.
func (h *harness) diff(id, parent string) []byte {
	h.t.Helper()
	rc, err := h.d.Diff(h.ctx, id, parent)
	if err != nil {
		h.t.Fatalf("Diff(%s, parent %q): %v", short(id), short(parent), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		h.t.Fatalf("reading Diff(%s, parent %q): %v", short(id), short(parent), err)
	}
	return b
}

func (h *harness) changes(id, parent string) []storage.Change {
	h.t.Helper()
	c, err := h.d.Changes(h.ctx, id, parent)
	if err != nil {
		h.t.Fatalf("Changes(%s, parent %q): %v", short(id), short(parent), err)
	}
	return c
}

func (h *harness) diffSize(id, parent string) int64 {
	h.t.Helper()
	n, err := h.d.DiffSize(h.ctx, id, parent)
	if err != nil {
		h.t.Fatalf("DiffSize(%s, parent %q): %v", short(id), short(parent), err)
	}
	return n
}

// snapshot describes the tree layer id shows through Get.
func (h *harness) snapshot(id string) tree {
	h.t.Helper()
	dir := h.get(id)
	defer h.put(id)
	return snapshotTree(h.t, dir)
}

// assertDiffRoundTrips applies Diff(id, parent) to a new layer on parent
// and checks the new layer shows the same tree as id: whatever a driver
// puts in a Diff must rebuild the layer (this is how images are pushed and
// committed).
func (h *harness) assertDiffRoundTrips(id, parent string) {
	h.t.Helper()
	d := h.diff(id, parent)
	copyID := h.create(parent)
	h.apply(copyID, parent, d)
	compareTrees(h.t, "layer rebuilt from its Diff", h.snapshot(id), h.snapshot(copyID))
}

// short shortens an id for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func storageGetOptions() storage.GetOptions { return storage.GetOptions{} }

func osWriteFile(p, content string) error { return os.WriteFile(p, []byte(content), 0o644) }

// sub is h for a subtest t of h's test.
func (h *harness) sub(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

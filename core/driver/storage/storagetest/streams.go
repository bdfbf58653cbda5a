package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

func streamChecks() []check {
	return []check{
		{"LargeFiles", checkLargeFiles},
		{"DiffClosedEarly", checkDiffClosedEarly},
		{"ApplyDiffCancelled", checkApplyDiffCancelled},
		{"OddNames", checkOddNames},
		{"DiffAgainstAncestor", checkDiffAgainstAncestor},
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// checkLargeFiles moves files larger than storage.ChunkSize, so that a
// stream crossing the plugin wire is cut into several chunks.
func checkLargeFiles(h *harness) {
	t := h.t
	big := randomBytes(3*storage.ChunkSize + 12345)
	small := randomBytes(storage.ChunkSize - 1)
	e1, e2 := regular("big", ""), regular("d/exact", "")
	e1.body, e1.hdr.Size = big, int64(len(big))
	e2.body, e2.hdr.Size = small, int64(len(small))
	stream := buildTar(t, e1, directory("d"), e2)
	id := h.create("")
	if n := h.apply(id, "", stream); n != int64(len(big)+len(small)) {
		t.Errorf("ApplyDiff returned %d, want %d", n, len(big)+len(small))
	}
	root := h.mount(id)
	for name, want := range map[string][]byte{"big": big, "d/exact": small} {
		got, err := os.ReadFile(root + "/" + name)
		if err != nil || sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("/%s: %d bytes (%v), not the %d applied", name, len(got), err, len(want))
		}
	}
	diff := h.diff(id, "")
	if h.info.Capabilities.ByteExactDiff {
		assertSameBytes(t, "Diff of a layer with large files", stream, diff)
	}
	entries, _ := parseTar(t, "Diff", diff)
	if e, ok := entries["big"]; !ok || !bytes.Equal(e.body, big) {
		t.Errorf("Diff does not carry /big whole")
	}
	// And the mounted path of a large write.
	child := h.create(id)
	croot := h.get(child)
	must(t, os.WriteFile(croot+"/written", big, 0o644))
	h.put(child)
	if got := h.diffSize(child, id); got != int64(len(big)) {
		t.Errorf("DiffSize after writing %d bytes = %d", len(big), got)
	}
	h.assertDiffRoundTrips(child, id)
}

// checkDiffClosedEarly: a client that goes away closes the stream after
// a few bytes; the driver must release whatever it held for the Diff.
func checkDiffClosedEarly(h *harness) {
	t := h.t
	e := regular("big", "")
	e.body = randomBytes(4 * storage.ChunkSize)
	e.hdr.Size = int64(len(e.body))
	parent := h.layer("", e)
	child := h.layer(parent, regular("c", "C"))
	mounted := h.create(child)
	root := h.get(mounted)
	must(t, os.WriteFile(root+"/w", e.body, 0o644))
	h.put(mounted)
	for _, c := range []struct{ id, parent string }{{parent, ""}, {child, parent}, {mounted, child}} {
		for range 3 {
			rc, err := h.d.Diff(h.ctx, c.id, c.parent)
			if err != nil {
				t.Fatalf("Diff(%s): %v", short(c.id), err)
			}
			var one [1]byte
			if _, err := io.ReadFull(rc, one[:]); err != nil {
				t.Errorf("reading Diff(%s): %v", short(c.id), err)
			}
			done := make(chan error, 1)
			go func() { done <- rc.Close() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("closing Diff(%s) after one byte did not return in 30s", short(c.id))
			}
		}
	}
	// Nothing is still held: the layers can go, newest first.
	for _, id := range []string{mounted, child, parent} {
		h.remove(id)
	}
}

// cancellingReader cancels a context once it has given out after bytes,
// and from then on gives out the rest in small reads.
type cancellingReader struct {
	r      io.Reader
	after  int
	read   int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := c.r.Read(p)
	if c.read += n; c.read >= c.after {
		c.cancel()
	}
	return n, err
}

// checkApplyDiffCancelled: cancelling the context of ApplyDiff (the
// client went away during a pull) stops it with an error of class
// canceled, and the daemon can then remove the layer.
func checkApplyDiffCancelled(h *harness) {
	t := h.t
	var entries []tarEntry
	for i := range 8 {
		e := regular("f"+strings.Repeat("x", i), "")
		e.body = randomBytes(storage.ChunkSize)
		e.hdr.Size = int64(len(e.body))
		entries = append(entries, e)
	}
	stream := buildTar(t, entries...)
	id := h.create("")
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.d.ApplyDiff(ctx, id, "", &cancellingReader{r: bytes.NewReader(stream), after: storage.ChunkSize, cancel: cancel})
		done <- err
	}()
	select {
	case err := <-done:
		if !errdefs.IsCanceled(err) {
			t.Errorf("ApplyDiff whose context was cancelled a megabyte in = %v, want class canceled", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("ApplyDiff whose context was cancelled did not return in 60s")
	}
	h.remove(id)
	if h.exists(id) {
		t.Error("layer still exists after Remove")
	}
}

// checkOddNames: names are bytes; a driver must not trip on the ones
// that mount options, /proc/self/mountinfo or text protocols escape.
func checkOddNames(h *harness) {
	t := h.t
	names := []string{
		"with space", "new\nline", "tab\there", `back\slash`, "colon:comma,equals=",
		"\xff\xfe not utf-8", "-dash", "...", "..a", ".hidden", "ünïcødé 名前",
		strings.Repeat("n", 255),
	}
	var entries []tarEntry
	entries = append(entries, directory("dir with space, and comma"))
	for _, n := range names {
		entries = append(entries, regular(n, n), regular("dir with space, and comma/"+n, n))
	}
	parent := h.layer("", entries...)
	child := h.layer(parent, whiteout("with space"), whiteout("dir with space, and comma/new\nline"), regular("added\x01ctl", "x"))
	root := h.mount(child)
	for _, n := range names[2:] {
		assertContent(t, root, n, n)
	}
	assertAbsent(t, root, "with space")
	assertAbsent(t, root, "dir with space, and comma/new\nline")
	assertContent(t, root, "new\nline", "new\nline")
	assertContent(t, root, "added\x01ctl", "x")
	h.assertDiffRoundTrips(parent, "")
	h.assertDiffRoundTrips(child, parent)
}

// checkDiffAgainstAncestor: Diff and Changes against a grandparent cover
// both layers' changes.
func checkDiffAgainstAncestor(h *harness) {
	t := h.t
	grand := h.layer("", regular("a", "A"), regular("b", "B"), directory("d"), regular("d/x", "X"))
	parent := h.layer(grand, regular("a", "A2"), whiteout("b"))
	child := h.layer(parent, regular("c", "C"), whiteout("d/x"))
	assertChanges(t, h.changes(child, grand), h.snapshot(child), []storage.Change{
		{Path: "/a", Kind: storage.ChangeModify},
		{Path: "/b", Kind: storage.ChangeDelete},
		{Path: "/c", Kind: storage.ChangeAdd},
		{Path: "/d/x", Kind: storage.ChangeDelete},
	})
	h.assertDiffRoundTrips(child, grand)
}

package image

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pluggd/pluggd/core/image/imagetest"
)

// eventRecorder is an EventLogger that remembers "status id" lines.
type eventRecorder struct {
	mu  sync.Mutex
	got []string
}

func (r *eventRecorder) Log(status, id, from string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := status + " " + id
	if from != "" {
		line += " from " + from
	}
	r.got = append(r.got, line)
}

func (r *eventRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// The image events follow Docker 1.7 (DOCKER17.md §6): import names the
// image id with the tag the client gave, tag names the reference, untag
// and delete name the image id; a failed operation logs nothing.
func TestImageEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &eventRecorder{}
	s, err := NewService(ctx, Options{Root: t.TempDir(), Driver: imagetest.Driver(t), Events: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	body := imagetest.Tar(t, map[string]string{"a": "a"})
	imp := func(opts ImportOptions) string {
		t.Helper()
		opts.Src, opts.Body = "-", bytes.NewReader(body)
		id, err := s.Import(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	check := func(what string, want ...string) {
		t.Helper()
		if got := rec.take(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: events %q, want %q", what, got, want)
		}
	}

	a := imp(ImportOptions{Repo: "busybox"})
	check("import without tag", "import "+a)
	b := imp(ImportOptions{Repo: "busybox", Tag: "1"})
	check("import with tag", "import "+b+":1")
	c := imp(ImportOptions{Repo: "localhost:5000/app:2"})
	check("import with tag in repo", "import "+c+":2")
	d := imp(ImportOptions{})
	check("import unnamed", "import "+d)

	if err := s.Tag(ctx, a, "mine", "", false); err != nil {
		t.Fatal(err)
	}
	check("tag", "tag mine:latest")
	if err := s.Tag(ctx, b, "mine", "latest", false); err == nil {
		t.Fatal("moving a tag without force must fail")
	}
	check("failed tag")

	if _, err := s.Delete(ctx, "mine", false, false); err != nil {
		t.Fatal(err)
	}
	check("untag by name", "untag "+a)
	if _, err := s.Delete(ctx, "busybox:latest", false, false); err != nil {
		t.Fatal(err)
	}
	check("last name", "untag "+a, "delete "+a)
	if _, err := s.Delete(ctx, d, false, false); err != nil {
		t.Fatal(err)
	}
	check("by id", "delete "+d)
	if _, err := s.Delete(ctx, "nosuch", false, false); err == nil {
		t.Fatal("deleting nosuch must fail")
	}
	check("failed delete")
}

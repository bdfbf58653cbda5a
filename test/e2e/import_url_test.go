package e2e

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// serveTar serves the busybox tar on a loopback port and returns its URL.
func serveTar(t *testing.T, body []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/busybox.tar" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.Write(body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/busybox.tar"
}

func TestImportFromURL(t *testing.T) {
	d := startDaemon(t)
	u := serveTar(t, busyboxTar)

	out := d.mustDocker("", nil, "import", u, "fromurl:1")
	id := strings.TrimPrefix(strings.TrimSpace(lastLine(out)), "sha256:")
	if !hexID.MatchString(id) {
		t.Fatalf("docker import URL printed %q", out)
	}
	insp, _, err := d.goClient().ImageInspectWithRaw(context.Background(), "fromurl:1")
	if err != nil || insp.ID != id || insp.Comment != "Imported from "+u {
		t.Fatalf("inspect: %+v %v", insp.Comment, err)
	}
	// A URL that answers 404 fails the import and registers nothing.
	if out, err := d.docker("", nil, "import", strings.Replace(u, "busybox.tar", "missing.tar", 1), "nothing"); err == nil {
		t.Fatalf("import of a 404 URL succeeded:\n%s", out)
	}
	if code, _, _ := d.raw("GET", "/v1.19/images/nothing/json", nil); code != 404 {
		t.Fatalf("failed URL import left an image: %d", code)
	}
}

func TestImageListFilters(t *testing.T) {
	d := startDaemon(t)
	c := d.goClient()
	ctx := context.Background()
	first := importGo(t, d, "busybox", busyboxTar)
	second := importGo(t, d, "busybox", busyboxTar) // takes the tag: first is now dangling

	dangling, err := c.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("dangling", "true"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(dangling) != 1 || dangling[0].ID != first {
		t.Fatalf("dangling = %+v, want only %s", dangling, first)
	}
	// Docker 1.7 (graph/list.go) only ever narrowed the list for
	// dangling=true; dangling=false lists everything, as it did.
	both, err := c.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("dangling", "false"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(both) != 2 {
		t.Fatalf("dangling=false = %+v, want both images", both)
	}
	if code, body, _ := d.raw("GET", "/v1.19/images/json?filters="+`%7B%22dangling%22%3A%5B%22maybe%22%5D%7D`, nil); code != 400 {
		t.Fatalf("dangling=maybe: %d %s", code, body)
	}
	out := d.mustDocker("1.19", nil, "images", "--filter", "dangling=true", "-q", "--no-trunc")
	if strings.TrimPrefix(strings.TrimSpace(out), "sha256:") != first {
		t.Fatalf("docker images -f dangling=true: %q", out)
	}
	// The legacy filter parameter matches repository names.
	code, body, _ := d.raw("GET", "/v1.19/images/json?filter=busy*", nil)
	if code != 200 || !strings.Contains(body, second) || strings.Contains(body, first) {
		t.Fatalf("filter=busy*: %d %s", code, body)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

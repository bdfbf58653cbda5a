package images_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/api/server"
	"github.com/pluggd/pluggd/api/server/images"
	"github.com/pluggd/pluggd/core/image"
	"github.com/pluggd/pluggd/core/image/imagetest"
)

// The router's needs are met by the real store.
var _ images.Backend = (*image.Service)(nil)

type env struct {
	t *testing.T
	h http.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := imagetest.Driver(t)
	s, err := image.NewService(context.Background(), image.Options{Root: t.TempDir(), Driver: d, DockerVersion: "1.7.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv := server.New(server.Options{Logger: slog.New(slog.DiscardHandler)})
	images.Register(srv.Group(), s)
	return &env{t: t, h: srv.Handler()}
}

func (e *env) do(method, path string, body io.Reader) *httptest.ResponseRecorder {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(method, path, body))
	return rec
}

func (e *env) importTar(path string, files map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do("POST", path, bytes.NewReader(imagetest.Tar(e.t, files)))
}

func (e *env) mustImport(repo string) string {
	e.t.Helper()
	rec := e.importTar("/v1.19/images/create?fromSrc=-&repo="+repo, map[string]string{"etc/" + repo: repo})
	if rec.Code != 200 {
		e.t.Fatalf("import %s: %d %s", repo, rec.Code, rec.Body)
	}
	var last struct{ Status string }
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	return last.Status
}

func keysOf(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func firstOf(t *testing.T, b []byte) json.RawMessage {
	t.Helper()
	var l []json.RawMessage
	if err := json.Unmarshal(b, &l); err != nil || len(l) == 0 {
		t.Fatalf("%v: %s", err, b)
	}
	return l[0]
}

var idRE = regexp.MustCompile(`^[a-f0-9]{64}$`)

func TestImportStream(t *testing.T) {
	e := newEnv(t)
	rec := e.importTar("/v1.19/images/create?fromSrc=-&repo=busybox&tag=latest", map[string]string{"bin/sh": "#!"})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var m map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || !idRE.MatchString(m["status"]) || !strings.HasSuffix(rec.Body.String(), "\r\n") {
		t.Fatalf("body %q", rec.Body)
	}
	// API 1.0 streamed text.
	rec = e.importTar("/v1.0/images/create?fromSrc=-", map[string]string{"a": "b"})
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || !idRE.MatchString(strings.TrimSpace(rec.Body.String())) {
		t.Fatalf("v1.0: %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}

func TestImportErrors(t *testing.T) {
	e := newEnv(t)
	good := imagetest.Tar(t, map[string]string{"a": strings.Repeat("a", 5000)})
	for _, c := range []struct {
		path string
		body []byte
		code int
		msg  string
	}{
		{"/images/create?fromSrc=-&repo=busybox", good[:700], 400, ""},
		{"/images/create?fromSrc=-&repo=Bad", good, 400, ""},
		{"/images/create?fromImage=busybox&tag=latest", nil, 500, "not supported"},
		{"/images/create", nil, 400, "fromSrc"},
		{"/images/create?fromSrc=-&changes=RUN+x", good, 400, "not a valid change command"},
	} {
		rec := e.do("POST", c.path, bytes.NewReader(c.body))
		if rec.Code != c.code || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || !strings.Contains(rec.Body.String(), c.msg) {
			t.Errorf("%s: %d %q %q", c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	if rec := e.do("GET", "/images/json", nil); strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("failed imports registered images: %s", rec.Body)
	}
}

func TestImportFromURL(t *testing.T) {
	e := newEnv(t)
	tarball := imagetest.Tar(t, map[string]string{"big": strings.Repeat("z", 1<<20)})
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rootfs.tar" {
			http.NotFound(w, r)
			return
		}
		w.Write(tarball)
	}))
	defer files.Close()
	host := strings.TrimPrefix(files.URL, "http://")

	// No scheme means http (DOCKER17.md §5).
	rec := e.do("POST", "/images/create?fromSrc="+host+"/rootfs.tar&repo=web", nil)
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\r\n")
	if rec.Code != 200 || len(lines) < 3 || !strings.Contains(lines[0], `"Downloading from http://`+host+`/rootfs.tar"`) || !strings.Contains(lines[1], `"Importing"`) || !strings.Contains(lines[1], `"progressDetail"`) {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}
	var last map[string]string
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if !idRE.MatchString(last["status"]) {
		t.Fatalf("last line %q", lines[len(lines)-1])
	}
	rec = e.do("GET", "/images/web/json", nil)
	var insp struct{ Comment string }
	json.Unmarshal(rec.Body.Bytes(), &insp)
	if insp.Comment != "Imported from "+host+"/rootfs.tar" {
		t.Errorf("comment %q", insp.Comment)
	}

	// Once the stream started, errors go in-band.
	rec = e.do("POST", "/images/create?fromSrc="+files.URL+"/missing.tar", nil)
	lines = strings.Split(strings.TrimSpace(rec.Body.String()), "\r\n")
	var em struct {
		Error       string
		ErrorDetail struct{ Message string }
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &em)
	if rec.Code != 200 || !strings.Contains(em.Error, "404") || em.ErrorDetail.Message != em.Error {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}
}

func TestListShapes(t *testing.T) {
	e := newEnv(t)
	id := e.mustImport("busybox")
	e.importTar("/images/create?fromSrc=-", map[string]string{"x": "y"})

	rec := e.do("GET", "/v1.19/images/json", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var l []map[string]any
	json.Unmarshal(rec.Body.Bytes(), &l)
	if len(l) != 2 {
		t.Fatalf("%s", rec.Body)
	}
	if got := strings.Join(keysOf(t, firstOf(t, rec.Body.Bytes())), ","); got != "Created,Id,Labels,ParentId,RepoDigests,RepoTags,Size,VirtualSize" {
		t.Errorf("v1.19 keys %s", got)
	}
	byID := map[string]map[string]any{}
	for _, i := range l {
		byID[i["Id"].(string)] = i
	}
	if tags := byID[id]["RepoTags"].([]any); len(tags) != 1 || tags[0] != "busybox:latest" {
		t.Errorf("tags %v", tags)
	}
	rec = e.do("GET", `/v1.19/images/json?filters={"dangling":["true"]}`, nil)
	json.Unmarshal(rec.Body.Bytes(), &l)
	if len(l) != 1 || l[0]["RepoTags"].([]any)[0] != "<none>:<none>" || l[0]["RepoDigests"].([]any)[0] != "<none>@<none>" {
		t.Errorf("dangling: %s", rec.Body)
	}
	if rec := e.do("GET", `/images/json?filters={bad`, nil); rec.Code != 400 {
		t.Errorf("bad filters: %d", rec.Code)
	}
	if got := strings.Join(keysOf(t, firstOf(t, e.do("GET", "/v1.16/images/json", nil).Body.Bytes())), ","); got != "Created,Id,ParentId,RepoTags,Size,VirtualSize" {
		t.Errorf("v1.16 keys %s", got)
	}
	// Before 1.7: one row per repo:tag.
	rec = e.do("GET", "/v1.6/images/json?filter=busy*", nil)
	json.Unmarshal(rec.Body.Bytes(), &l)
	if len(l) != 1 || l[0]["Repository"] != "busybox" || l[0]["Tag"] != "latest" || l[0]["Id"] != id {
		t.Errorf("v1.6: %s", rec.Body)
	}
	if got := strings.Join(keysOf(t, firstOf(t, e.do("GET", "/v1.0/images/json?filter=busybox", nil).Body.Bytes())), ","); got != "Created,Id,Repository,Tag" {
		t.Errorf("v1.0 keys %s", got)
	}
}

func TestInspectAndHistory(t *testing.T) {
	e := newEnv(t)
	id := e.mustImport("me/app")
	rec := e.do("GET", "/v1.19/images/docker.io/me/app/json", nil)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if got := strings.Join(keysOf(t, rec.Body.Bytes()), ","); got != "Architecture,Author,Comment,Config,Container,ContainerConfig,Created,DockerVersion,Id,Os,Parent,Size,VirtualSize" {
		t.Errorf("v1.19 keys %s", got)
	}
	rec = e.do("GET", "/v1.11/images/"+id[:12]+"/json", nil)
	if got := strings.Join(keysOf(t, rec.Body.Bytes()), ","); got != "Size,architecture,comment,config,container_config,created,docker_version,id,os" {
		t.Errorf("v1.11 raw keys %s", got)
	}
	rec = e.do("GET", "/images/nope/json", nil)
	if rec.Code != 404 || rec.Body.String() != "No such image: nope\n" {
		t.Errorf("unknown: %d %q", rec.Code, rec.Body)
	}
	if rec := e.do("GET", "/images/me/app/frobnicate", nil); rec.Code != 404 {
		t.Errorf("unknown action: %d", rec.Code)
	}

	rec = e.do("GET", "/images/me/app/history", nil)
	if got := strings.Join(keysOf(t, firstOf(t, rec.Body.Bytes())), ","); rec.Code != 200 || got != "Comment,Created,CreatedBy,Id,Size,Tags" {
		t.Errorf("history: %d %s", rec.Code, rec.Body)
	}
	rec = e.do("GET", "/v1.0/images/me/app/history", nil)
	if got := strings.Join(keysOf(t, firstOf(t, rec.Body.Bytes())), ","); got != "Created,CreatedBy,Id" {
		t.Errorf("v1.0 history keys %s", got)
	}
}

func TestTagAndDelete(t *testing.T) {
	e := newEnv(t)
	a := e.mustImport("library/a")
	e.mustImport("b")
	if rec := e.do("POST", "/images/a/tag?repo=localhost:5000/x/y&tag=1", nil); rec.Code != 201 || rec.Body.Len() != 0 {
		t.Fatalf("tag: %d %q", rec.Code, rec.Body)
	}
	if rec := e.do("POST", "/images/b/tag?repo=localhost:5000/x/y&tag=1", nil); rec.Code != 409 || !strings.HasPrefix(rec.Body.String(), "Conflict: Tag 1 is already set to image "+a) {
		t.Errorf("conflict: %d %q", rec.Code, rec.Body)
	}
	if rec := e.do("POST", "/images/b/tag?repo=localhost:5000/x/y&tag=1&force=1", nil); rec.Code != 201 {
		t.Errorf("force: %d %q", rec.Code, rec.Body)
	}
	if rec := e.do("POST", "/images/b/tag?repo=Bad", nil); rec.Code != 400 {
		t.Errorf("bad repo: %d %q", rec.Code, rec.Body)
	}
	if rec := e.do("POST", "/images/nope/tag?repo=x", nil); rec.Code != 404 {
		t.Errorf("unknown: %d %q", rec.Code, rec.Body)
	}

	rec := e.do("DELETE", "/v1.19/images/localhost:5000/x/y:1", nil)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `[{"Untagged":"localhost:5000/x/y:1"}]` {
		t.Errorf("untag: %d %s", rec.Code, rec.Body)
	}
	rec = e.do("DELETE", "/images/a", nil)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `[{"Untagged":"a:latest"},{"Deleted":"`+a+`"}]` {
		t.Errorf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("DELETE", "/v1.1/images/b", nil); rec.Code != 204 || rec.Body.Len() != 0 {
		t.Errorf("v1.1 delete: %d %q", rec.Code, rec.Body)
	}
	if rec := e.do("DELETE", "/images/b", nil); rec.Code != 404 || rec.Body.String() != "No such image: b\n" {
		t.Errorf("gone: %d %q", rec.Code, rec.Body)
	}
}

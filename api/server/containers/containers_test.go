package containers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/api/server"
	"github.com/pluggd/pluggd/api/server/containers"
	"github.com/pluggd/pluggd/core/daemon"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/image"
	"github.com/pluggd/pluggd/core/image/imagetest"
)

// The router's needs are met by the real service.
var _ containers.Backend = (*daemon.Containers)(nil)

type env struct {
	t      *testing.T
	h      http.Handler
	root   string
	images *image.Service
	driver storage.Driver
	svc    *daemon.Containers
}

// newEnv serves the containers router over the real image store and the
// overlay driver in-process; ex may be nil (no exec driver).
func newEnv(t *testing.T, ex exec.Driver) *env {
	t.Helper()
	ctx := context.Background()
	d := imagetest.Driver(t)
	root := t.TempDir()
	imgs, err := image.NewService(ctx, image.Options{Root: filepath.Join(root, "image"), Driver: d, DockerVersion: "1.7.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imgs.Close() })
	resolv := filepath.Join(root, "host-resolv.conf")
	os.WriteFile(resolv, []byte("search example.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n"), 0o644)
	svc, err := daemon.NewContainers(ctx, daemon.ContainersOptions{
		Root: filepath.Join(root, "containers"), Images: imgs, Storage: d, Exec: ex, HostResolvConf: resolv,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	srv := server.New(server.Options{Logger: slog.New(slog.DiscardHandler)})
	containers.Register(srv.Group(), svc)
	return &env{t: t, h: srv.Handler(), root: root, images: imgs, driver: d, svc: svc}
}

func (e *env) importImage(repo string, files map[string]string) string {
	e.t.Helper()
	id, err := e.images.Import(context.Background(), image.ImportOptions{
		Src: "-", Body: bytes.NewReader(imagetest.Tar(e.t, files)), Repo: repo,
		Changes: []string{`CMD ["/bin/sh"]`, "ENV FOO=image BAR=image", "WORKDIR /w"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) do(method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func (e *env) create(name, body string) string {
	e.t.Helper()
	path := "/v1.19/containers/create"
	if name != "" {
		path += "?name=" + name
	}
	rec := e.do("POST", path, body)
	if rec.Code != 201 {
		e.t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var resp struct {
		Id       string
		Warnings []string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Id) != 64 {
		e.t.Fatalf("create: %v %s", err, rec.Body)
	}
	return resp.Id
}

func TestCreateInspectListRemove(t *testing.T) {
	e := newEnv(t, nil)
	imgID := e.importImage("busybox", map[string]string{"bin/sh": "#!", "etc/hostname": "img"})
	id := e.create("web", `{"Image":"busybox","Cmd":["echo","hi"],"Env":["FOO=user"],"Labels":{"a":"b"},"HostConfig":{"Binds":["/tmp:/data:ro"]}}`)

	rec := e.do("GET", "/v1.19/containers/web/json", "")
	if rec.Code != 200 {
		t.Fatalf("inspect: %d %s", rec.Code, rec.Body)
	}
	var in struct {
		Id, Path, Image, Name, Driver, ResolvConfPath, HostsPath, HostnamePath, LogPath string
		Args                                                                            []string
		Config                                                                          struct {
			Hostname, WorkingDir, Image string
			Env, Cmd                    []string
		}
		State struct {
			Running  bool
			ExitCode int
		}
		HostConfig      struct{ Binds []string }
		NetworkSettings map[string]any
		Volumes         map[string]string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &in); err != nil {
		t.Fatal(err)
	}
	if in.Id != id || in.Path != "echo" || strings.Join(in.Args, ",") != "hi" || in.Image != imgID || in.Name != "/web" ||
		in.Driver != "overlay" || in.Config.Hostname != id[:12] || in.Config.WorkingDir != "/w" || in.Config.Image != "busybox" ||
		strings.Join(in.Config.Env, ",") != "FOO=user,BAR=image" || in.HostConfig.Binds[0] != "/tmp:/data:ro" ||
		in.State.Running || in.NetworkSettings == nil || in.Volumes == nil {
		t.Fatalf("inspect: %s", rec.Body)
	}
	// The container directory holds the network files.
	resolv, _ := os.ReadFile(in.ResolvConfPath)
	if string(resolv) != "search example.com\nnameserver 10.0.0.2\n" {
		t.Errorf("resolv.conf: %q", resolv)
	}
	if b, _ := os.ReadFile(in.HostnamePath); string(b) != id[:12]+"\n" {
		t.Errorf("hostname: %q", b)
	}
	if b, _ := os.ReadFile(in.HostsPath); !strings.Contains(string(b), "127.0.0.1\tlocalhost") {
		t.Errorf("hosts: %q", b)
	}
	// The init layer holds Docker's placeholders; the container layer is
	// on top of it.
	ctx := context.Background()
	dir, err := e.driver.Get(ctx, id, storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"dev/pts", "dev/shm", "proc", "sys", ".dockerinit", ".dockerenv", "etc/resolv.conf", "etc/hosts", "dev/console", "bin/sh"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("rootfs: %v", err)
		}
	}
	if l, _ := os.Readlink(filepath.Join(dir, "etc/mtab")); l != "/proc/mounts" {
		t.Errorf("mtab -> %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/hostname")); string(b) != "img" {
		t.Errorf("the image's own /etc/hostname was replaced: %q", b)
	}
	e.driver.Put(ctx, id)

	// Lookup by prefix and full id.
	for _, ref := range []string{id, id[:5]} {
		if rec := e.do("GET", "/containers/"+ref+"/json", ""); rec.Code != 200 {
			t.Errorf("inspect %s: %d", ref, rec.Code)
		}
	}

	// Not running: hidden from the default list, shown with all=1.
	if rec := e.do("GET", "/v1.19/containers/json", ""); strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("list: %s", rec.Body)
	}
	id2 := e.create("", `{"Image":"busybox"}`)
	for _, path := range []string{"/v1.19/containers/json?all=1&size=1", "/v1.19/containers/ps?all=1"} {
		rec = e.do("GET", path, "")
		var list []map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 2 {
			t.Fatalf("list %s: %v %s", path, err, rec.Body)
		}
		// Newest first; a never-started container's Status is "" in 1.7.
		if list[0]["Id"] != id2 || list[1]["Id"] != id || list[1]["Command"] != "echo hi" || list[1]["Status"] != "" ||
			list[1]["Image"] != "busybox" || list[1]["Names"].([]any)[0] != "/web" || list[0]["Command"] != "/bin/sh" {
			t.Fatalf("list: %s", rec.Body)
		}
		if _, ok := list[0]["Ports"].([]any); !ok {
			t.Errorf("Ports: %s", rec.Body)
		}
	}
	for q, want := range map[string]int{
		"limit=1": 1, "before=web": 0, "since=web": 1, `filters={"name":["web"]}`: 1, `filters={"label":["a=b"]}`: 1,
		`filters={"status":["exited"]}`: 2, `filters={"status":["running"]}`: 0, `filters={"id":["` + id[:6] + `"]}`: 1,
	} {
		rec := e.do("GET", "/v1.19/containers/json?all=1&"+q, "")
		var list []any
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != want {
			t.Errorf("%s: want %d, got %d %s", q, want, len(list), rec.Body)
		}
	}

	// The image is in use: rmi must be refused by the store's hook.
	users, _ := e.svc.ImageUsers(ctx)
	if len(users) != 2 || users[0].ImageID != imgID {
		t.Errorf("image users: %+v", users)
	}

	for _, ref := range []string{"web", id2} {
		if rec := e.do("DELETE", "/v1.19/containers/"+ref+"?v=1", ""); rec.Code != 204 {
			t.Fatalf("rm %s: %d %s", ref, rec.Code, rec.Body)
		}
	}
	if rec := e.do("GET", "/v1.19/containers/web/json", ""); rec.Code != 404 || rec.Body.String() != "no such id: web\n" {
		t.Fatalf("after rm: %d %q", rec.Code, rec.Body)
	}
	for _, l := range []string{id, id + "-init"} {
		if ok, _ := e.driver.Exists(ctx, l); ok {
			t.Errorf("layer %s left", l)
		}
	}
	if _, err := os.Stat(filepath.Join(e.root, "containers", id)); !os.IsNotExist(err) {
		t.Errorf("container dir left: %v", err)
	}
	// The name is free again.
	e.create("web", `{"Image":"busybox"}`)
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.importImage("busybox", map[string]string{"bin/sh": "#!"})
	holder := e.create("web", `{"Image":"busybox"}`)
	for _, c := range []struct {
		path, body string
		code       int
		msg        string
	}{
		{"/v1.19/containers/create", `{"Image":`, 400, "invalid JSON"},
		{"/v1.19/containers/create", ``, 400, ""},
		{"/v1.19/containers/create", `{"Image":"nosuch"}`, 404, "No such image: nosuch\n"},
		{"/v1.19/containers/create?name=a", `{"Image":"busybox"}`, 400, "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n"},
		{"/v1.19/containers/create?name=web", `{"Image":"busybox"}`, 409,
			`Conflict. The name "web" is already in use by container ` + holder[:12] + `. You have to delete (or rename) that container to be able to reuse that name.` + "\n"},
		{"/v1.19/containers/create", `{"Image":"busybox","HostConfig":{"LxcConf":{"lxc.utsname":"docker"}}}`, 400, "LxcConf is not supported by the  execution driver"},
		{"/v1.19/containers/create", `{"Image":"busybox","HostConfig":{"Binds":["relative:/x"]}}`, 400, "Invalid volume specification"},
	} {
		rec := e.do("POST", c.path, c.body)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.msg) {
			t.Errorf("%s %s: %d %q", c.path, c.body, rec.Code, rec.Body)
		}
	}
	// Failed creates leave nothing behind.
	rec := e.do("GET", "/v1.19/containers/json?all=1", "")
	var list []any
	json.Unmarshal(rec.Body.Bytes(), &list)
	if len(list) != 1 {
		t.Fatalf("list after failures: %s", rec.Body)
	}
	for path, code := range map[string]int{
		"/v1.19/containers/nosuch/start": 404, "/v1.19/containers/nosuch/wait": 404, "/v1.19/containers/nosuch/stop": 404,
		"/v1.19/containers/web/stop": 304, "/v1.19/containers/web/kill?signal=NOPE": 400, "/v1.19/containers/web/kill": 204,
		"/v1.19/containers/web/start": 500,
	} {
		if rec := e.do("POST", path, ""); rec.Code != code {
			t.Errorf("%s: %d %q", path, rec.Code, rec.Body)
		}
	}
	if rec := e.do("POST", "/v1.19/containers/web/wait", ""); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"StatusCode":0}` {
		t.Errorf("wait on a created container: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("DELETE", "/v1.19/containers/nosuch", ""); rec.Code != 404 {
		t.Errorf("rm nosuch: %d", rec.Code)
	}
}

func TestRestoreFromDisk(t *testing.T) {
	e := newEnv(t, nil)
	e.importImage("busybox", map[string]string{"bin/sh": "#!"})
	id := e.create("keep", `{"Image":"busybox","Cmd":["true"]}`)
	ctx := context.Background()
	svc, err := daemon.NewContainers(ctx, daemon.ContainersOptions{Root: filepath.Join(e.root, "containers"), Images: e.images, Storage: e.driver})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	r, err := svc.Inspect(ctx, "keep")
	if err != nil || r.ID != id || r.Path != "true" {
		t.Fatalf("%+v %v", r, err)
	}
}

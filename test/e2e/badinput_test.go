package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// plainText asserts an error answer is Docker's plain-text form.
func plainText(t *testing.T, h map[string][]string, body string) {
	t.Helper()
	if ct := strings.Join(h["Content-Type"], ","); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if strings.TrimSpace(body) == "" || strings.HasPrefix(strings.TrimSpace(body), "{") {
		t.Errorf("error body %q is not a plain-text message", body)
	}
}

func TestAPIVersionsAndErrors(t *testing.T) {
	d := startDaemon(t)

	code, body, h := d.raw("GET", "/v1.99/version", nil)
	if code != 400 || !strings.Contains(body, "1.99") || !strings.Contains(body, "1.19") {
		t.Fatalf("too-new version: %d %q", code, body)
	}
	plainText(t, h, body)

	for _, p := range []string{"/_ping", "/v1.19/_ping", "/v1.0/_ping", "/v1.12/version", "/version"} {
		code, body, h := d.raw("GET", p, nil)
		if code != 200 {
			t.Errorf("GET %s = %d %q", p, code, body)
		}
		if h.Get("Api-Version") != "1.19" {
			t.Errorf("GET %s: API-Version header %q", p, h.Get("Api-Version"))
		}
	}
	if code, _, h := d.raw("HEAD", "/_ping", nil); code != 200 || h.Get("Api-Version") != "1.19" {
		t.Errorf("HEAD /_ping = %d, API-Version %q", code, h.Get("Api-Version"))
	}

	code, body, h = d.raw("GET", "/v1.19/images/nosuchimage/json", nil)
	if code != 404 {
		t.Fatalf("unknown image: %d %q", code, body)
	}
	plainText(t, h, body)

	code, body, h = d.raw("GET", "/v1.19/images/json?filters="+url.QueryEscape(`{"dangling":`), nil)
	if code != 400 {
		t.Fatalf("malformed filters: %d %q", code, body)
	}
	plainText(t, h, body)

	importGo(t, d, "busybox", busyboxTar)
	code, body, h = d.raw("POST", "/v1.19/images/busybox/tag?repo="+url.QueryEscape("Bad:Name!!"), nil)
	if code != 400 {
		t.Fatalf("tag with a bad name: %d %q", code, body)
	}
	plainText(t, h, body)
	if code, body, _ = d.raw("POST", "/v1.19/images/busybox/tag?repo=other", nil); code != 201 {
		t.Fatalf("tag: %d %q", code, body)
	}
	// Moving a tag held by another image needs force: 409.
	importGo(t, d, "second", busyboxTar)
	if code, body, _ = d.raw("POST", "/v1.19/images/second/tag?repo=other&tag=latest", nil); code != 409 {
		t.Fatalf("tag over another image's tag: %d %q", code, body)
	}
	if code, body, _ = d.raw("POST", "/v1.19/images/second/tag?repo=other&tag=latest&force=1", nil); code != 201 {
		t.Fatalf("forced tag: %d %q", code, body)
	}
	// An image with two tags cannot be removed by id without force.
	if code, body, _ = d.raw("DELETE", "/v1.19/images/"+imageID(t, d, "second"), nil); code != 409 {
		t.Fatalf("rmi by id of a twice-tagged image: %d %q", code, body)
	}
}

func imageID(t *testing.T, d *daemon, name string) string {
	t.Helper()
	insp, _, err := d.goClient().ImageInspectWithRaw(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return insp.ID
}

// tarOf builds a tar from headers; regular files get their Size in 'x's.
func tarOf(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// importFailed reports whether an import answer is a failure: an error
// status, or (once the JSON stream had started) an error message in it.
func importFailed(code int, body string) bool {
	return code >= 400 || (code == 200 && strings.Contains(body, `"errorDetail"`))
}

func TestImportRefusesHostileTars(t *testing.T) {
	d := startDaemon(t)
	good := importGo(t, d, "busybox", busyboxTar)

	// Every escape aims at a fresh name in a directory outside the root.
	outside := t.TempDir()
	rel, err := filepath.Rel("/", outside)
	if err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", 20)
	cases := map[string][]byte{
		"dotdot":   tarOf(t, &tar.Header{Name: up + rel + "/dotdot", Typeflag: tar.TypeReg, Size: 3}),
		"absolute": tarOf(t, &tar.Header{Name: outside + "/absolute", Typeflag: tar.TypeReg, Size: 3}),
		"symlink-absolute": tarOf(t,
			&tar.Header{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: outside},
			&tar.Header{Name: "evil/through-abs-link", Typeflag: tar.TypeReg, Size: 3}),
		"symlink-escaping": tarOf(t,
			&tar.Header{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755},
			&tar.Header{Name: "dir/up", Typeflag: tar.TypeSymlink, Linkname: up + rel},
			&tar.Header{Name: "dir/up/through-rel-link", Typeflag: tar.TypeReg, Size: 3}),
		"hardlink-outside": tarOf(t,
			&tar.Header{Name: "hl", Typeflag: tar.TypeLink, Linkname: up + "etc/passwd"}),
	}
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases["hardlink-then-write"] = tarOf(t,
		&tar.Header{Name: "victim", Typeflag: tar.TypeLink, Linkname: up + rel + "/victim"},
		&tar.Header{Name: "victim", Typeflag: tar.TypeReg, Size: 5})

	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			code, resp, _ := d.raw("POST", "/v1.19/images/create?fromSrc=-&repo=hostile&tag="+name, bytes.NewReader(body))
			entries, _ := os.ReadDir(outside)
			for _, e := range entries {
				if e.Name() != "victim" {
					t.Errorf("import %s wrote %s outside the layer", name, filepath.Join(outside, e.Name()))
				}
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "keep" {
				t.Errorf("import %s changed a file outside the layer: %q", name, b)
			}
			if b, _ := os.ReadFile("/etc/passwd"); !bytes.HasPrefix(b, []byte("root:")) {
				t.Fatalf("/etc/passwd damaged")
			}
			if !importFailed(code, resp) {
				// Contained instead of refused is allowed; then the
				// image must exist and hold the file inside itself.
				t.Logf("import %s was contained (%d)", name, code)
			} else if code2, _, _ := d.raw("GET", "/v1.19/images/hostile:"+name+"/json", nil); code2 != 404 {
				t.Errorf("refused import %s left an image behind (%d)", name, code2)
			}
		})
	}
	// Nothing already stored was harmed.
	if id := imageID(t, d, "busybox"); id != good {
		t.Fatalf("busybox now %s, want %s", id, good)
	}
}

func TestImportTruncatedTar(t *testing.T) {
	d := startDaemon(t)
	good := importGo(t, d, "busybox", busyboxTar)
	before := countImages(t, d)

	code, body, _ := d.raw("POST", "/v1.19/images/create?fromSrc=-&repo=truncated", bytes.NewReader(busyboxTar[:len(busyboxTar)/2]))
	if !importFailed(code, body) {
		t.Fatalf("truncated tar imported: %d %q", code, body)
	}
	if n := countImages(t, d); n != before {
		t.Fatalf("%d images after a failed import, want %d", n, before)
	}
	if code, _, _ := d.raw("GET", "/v1.19/images/truncated/json", nil); code != 404 {
		t.Fatalf("half-registered image: %d", code)
	}
	if imageID(t, d, "busybox") != good {
		t.Fatal("busybox changed")
	}
	// The driver is still fine: the next import works.
	importGo(t, d, "again", busyboxTar)
}

func countImages(t *testing.T, d *daemon) int {
	t.Helper()
	code, body, _ := d.raw("GET", "/v1.19/images/json?all=1", nil)
	if code != 200 {
		t.Fatalf("images/json: %d %s", code, body)
	}
	return strings.Count(body, `"Id"`)
}

func TestSecondDaemonOnSameRootRefuses(t *testing.T) {
	d := startDaemon(t)
	other := filepath.Join(d.dir, "other.sock")
	out, err := runPluggd(t, 10*time.Second, "--config", filepath.Join(d.dir, "config.toml"),
		"-H", "unix://"+other, "-g", d.root, "--exec-root", filepath.Join(d.dir, "exec2"), "-p", filepath.Join(d.dir, "other.pid"))
	if err == nil || !strings.Contains(out, "already running") {
		t.Fatalf("second daemon on the same root: err=%v\n%s", err, out)
	}
	out, err = runPluggd(t, 10*time.Second, "--config", filepath.Join(d.dir, "config.toml"),
		"-H", "unix://"+other, "-g", filepath.Join(d.dir, "root2"), "--exec-root", filepath.Join(d.dir, "exec2"), "-p", d.pidfile)
	if err == nil || !strings.Contains(out, "already running") {
		t.Fatalf("second daemon on the same pidfile: err=%v\n%s", err, out)
	}
	// The first one is unharmed.
	if code, _, _ := d.raw("GET", "/_ping", nil); code != 200 {
		t.Fatalf("first daemon: %d", code)
	}
	if _, err := os.Stat(d.pidfile); err != nil {
		t.Fatalf("first daemon's pidfile: %v", err)
	}
	if b, _ := os.ReadFile(d.pidfile); strings.TrimSpace(string(b)) != fmt.Sprint(d.cmd.Process.Pid) {
		t.Fatalf("pidfile holds %q, want %d", b, d.cmd.Process.Pid)
	}
}

package containers_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver"
	"github.com/pluggd/pluggd/core/image"
	"github.com/pluggd/pluggd/test/busybox"
)

// execNativeBinary is $PLUGGD_BIN/exec-native (make test), else a fresh
// build of ./plugins/exec-native.
func execNativeBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("PLUGGD_BIN"); dir != "" {
		bin, err := filepath.Abs(filepath.Join(dir, "exec-native"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("PLUGGD_BIN is set but: %v", err)
		}
		return bin
	}
	bin := filepath.Join(t.TempDir(), "exec-native")
	out, err := osexec.Command("go", "build", "-o", bin, "../../../plugins/exec-native").CombinedOutput()
	if err != nil {
		t.Fatalf("go build exec-native: %v\n%s", err, out)
	}
	return bin
}

// liveEnv is env with the real exec-native plugin under the plugin host,
// the busybox image, and a real HTTP server (attach hijacks).
type liveEnv struct {
	*env
	url string
}

func newLiveEnv(t *testing.T) *liveEnv {
	t.Helper()
	if _, err := os.Stat(busybox.DefaultBinary); err != nil {
		t.Skipf("needs %s (Debian busybox-static): %v", busybox.DefaultBinary, err)
	}
	bin := execNativeBinary(t)
	ctx := context.Background()
	host := driver.NewHost(slog.New(slog.DiscardHandler))
	// Supervisor sockets live below the root: keep it short.
	root, err := os.MkdirTemp("/tmp", "pge")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	ex, err := host.StartExec(ctx, driver.ExecConfig{Name: "native", Binary: bin, Root: filepath.Join(root, "native")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Shutdown(context.Background()) })
	e := newEnv(t, ex)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(busybox.Write(pw, busybox.Options{})) }()
	if _, err := e.images.Import(ctx, image.ImportOptions{Src: "-", Body: pr, Repo: "busybox"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	// Containers still running at the end are killed and removed.
	t.Cleanup(func() {
		for _, c := range mustList(t, srv.URL) {
			req, _ := http.NewRequest("DELETE", srv.URL+"/v1.19/containers/"+c+"?force=1", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
	return &liveEnv{env: e, url: srv.URL}
}

func mustList(t *testing.T, url string) []string {
	resp, err := http.Get(url + "/v1.19/containers/json?all=1")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var list []struct{ Id string }
	json.NewDecoder(resp.Body).Decode(&list)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.Id)
	}
	return ids
}

func (e *liveEnv) call(method, path, body string) (int, string) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// demux splits a multiplexed stream into stdout and stderr.
func demux(t *testing.T, r io.Reader) (string, string) {
	t.Helper()
	var out, errb strings.Builder
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			break
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
		if _, err := io.ReadFull(r, p); err != nil {
			t.Fatalf("short frame: %v", err)
		}
		switch hdr[0] {
		case 1:
			out.Write(p)
		case 2:
			errb.Write(p)
		default:
			t.Fatalf("bad stream %d", hdr[0])
		}
	}
	return out.String(), errb.String()
}

// attach opens a hijacked attach as the docker CLI does (Upgrade: tcp).
func (e *liveEnv) attach(id, query string) (net.Conn, *bufio.Reader) {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1.19/containers/%s/attach?%s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n", id, query)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "tcp" || resp.Header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		e.t.Fatalf("attach answer: %d %v", resp.StatusCode, resp.Header)
	}
	return conn, br
}

func TestRunAttachWaitLogs(t *testing.T) {
	e := newLiveEnv(t)
	// docker run --rm busybox sh -c …: create, attach, start, wait, rm.
	id := e.create("", `{"Image":"busybox","Cmd":["sh","-c","echo hi; echo oops >&2; exit 3"],"AttachStdout":true,"AttachStderr":true}`)
	conn, br := e.attach(id, "stream=1&stdout=1&stderr=1")
	defer conn.Close()
	if code, body := e.call("POST", "/v1.19/containers/"+id+"/start", ""); code != 204 {
		t.Fatalf("start: %d %s", code, body)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	out, errOut := demux(t, br)
	if out != "hi\n" || errOut != "oops\n" {
		t.Fatalf("attach got %q %q", out, errOut)
	}
	if code, body := e.call("POST", "/v1.19/containers/"+id+"/wait", ""); code != 200 || strings.TrimSpace(body) != `{"StatusCode":3}` {
		t.Fatalf("wait: %d %s", code, body)
	}
	if code, _ := e.call("POST", "/v1.19/containers/"+id+"/start", ""); code == 304 {
		t.Fatal("an exited container counts as started")
	}
	e.call("POST", "/v1.19/containers/"+id+"/wait", "")
	// Logs: both streams, then tail and timestamps.
	resp, err := http.Get(e.url + "/v1.19/containers/" + id + "/logs?stdout=1&stderr=1")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut = demux(t, resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(out, "hi\n") || !strings.HasPrefix(errOut, "oops\n") {
		t.Fatalf("logs: %q %q", out, errOut)
	}
	resp, _ = http.Get(e.url + "/v1.19/containers/" + id + "/logs?stdout=1&timestamps=1&tail=2")
	out, _ = demux(t, resp.Body)
	resp.Body.Close()
	if len(out) < 31 || out[30] != ' ' || !strings.HasSuffix(out, " hi\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("timestamps/tail: %q", out)
	}
	var in struct {
		State struct {
			Running    bool
			ExitCode   int
			FinishedAt time.Time
		}
		ExecDriver string
		LogPath    string
	}
	_, body := e.call("GET", "/v1.19/containers/"+id+"/json", "")
	json.Unmarshal([]byte(body), &in)
	if in.State.Running || in.State.ExitCode != 3 || in.State.FinishedAt.IsZero() || in.ExecDriver != "native-0.2" || !strings.HasSuffix(in.LogPath, id+"-json.log") {
		t.Fatalf("inspect: %s", body)
	}
	if code, body := e.call("DELETE", "/v1.19/containers/"+id, ""); code != 204 {
		t.Fatalf("rm: %d %s", code, body)
	}
}

func TestStdinOnceAndTty(t *testing.T) {
	e := newLiveEnv(t)
	id := e.create("", `{"Image":"busybox","Cmd":["cat"],"OpenStdin":true,"StdinOnce":true,"AttachStdin":true,"AttachStdout":true}`)
	conn, br := e.attach(id, "stream=1&stdin=1&stdout=1&stderr=1")
	defer conn.Close()
	if code, body := e.call("POST", "/v1.19/containers/"+id+"/start", ""); code != 204 {
		t.Fatalf("start: %d %s", code, body)
	}
	io.WriteString(conn, "hello\n")
	conn.(*net.TCPConn).CloseWrite()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	out, _ := demux(t, br)
	if out != "hello\n" {
		t.Fatalf("cat echoed %q", out)
	}
	if code, body := e.call("POST", "/v1.19/containers/"+id+"/wait", ""); strings.TrimSpace(body) != `{"StatusCode":0}` {
		t.Fatalf("wait: %d %s", code, body)
	}

	// With a terminal the stream is raw.
	id = e.create("", `{"Image":"busybox","Cmd":["echo","tty"],"Tty":true,"AttachStdout":true}`)
	conn2, br2 := e.attach(id, "stream=1&stdout=1&stderr=1")
	defer conn2.Close()
	e.call("POST", "/v1.19/containers/"+id+"/start", "")
	conn2.SetDeadline(time.Now().Add(30 * time.Second))
	raw, _ := io.ReadAll(br2)
	if string(raw) != "tty\r\n" {
		t.Fatalf("tty stream %q", raw)
	}
}

func TestStopKillRemove(t *testing.T) {
	e := newLiveEnv(t)
	id := e.create("sleeper", `{"Image":"busybox","Cmd":["sleep","100"]}`)
	if code, body := e.call("POST", "/v1.19/containers/sleeper/start", ""); code != 204 {
		t.Fatalf("start: %d %s", code, body)
	}
	if code, _ := e.call("POST", "/v1.19/containers/sleeper/start", ""); code != 304 {
		t.Errorf("second start: %d", code)
	}
	_, body := e.call("GET", "/v1.19/containers/json", "")
	if !strings.Contains(body, `"Status":"Up `) {
		t.Errorf("list: %s", body)
	}
	if code, body := e.call("DELETE", "/v1.19/containers/sleeper", ""); code != 409 || !strings.Contains(body, "You cannot remove a running container") {
		t.Errorf("rm running: %d %s", code, body)
	}
	// sleep is the namespace's init: SIGTERM is ignored, so stop kills
	// after t.
	start := time.Now()
	if code, body := e.call("POST", "/v1.19/containers/sleeper/stop?t=1", ""); code != 204 {
		t.Fatalf("stop: %d %s", code, body)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("stop returned after %v", d)
	}
	if _, body := e.call("POST", "/v1.19/containers/sleeper/wait", ""); strings.TrimSpace(body) != `{"StatusCode":137}` {
		t.Errorf("wait after stop: %s", body)
	}
	if code, _ := e.call("POST", "/v1.19/containers/sleeper/stop", ""); code != 304 {
		t.Errorf("stop stopped: %d", code)
	}
	// Restart, kill by name, remove with force while running.
	if code, body := e.call("POST", "/v1.19/containers/sleeper/start", ""); code != 204 {
		t.Fatalf("restart: %d %s", code, body)
	}
	if code, body := e.call("POST", "/v1.19/containers/sleeper/kill?signal=KILL", ""); code != 204 {
		t.Fatalf("kill: %d %s", code, body)
	}
	_, body = e.call("GET", "/v1.19/containers/sleeper/json", "")
	if !strings.Contains(body, `"Running":false`) || !strings.Contains(body, `"ExitCode":137`) {
		t.Errorf("after kill: %s", body)
	}
	e.call("POST", "/v1.19/containers/sleeper/start", "")
	if code, body := e.call("DELETE", "/v1.19/containers/sleeper?force=1", ""); code != 204 {
		t.Fatalf("rm -f: %d %s", code, body)
	}
	for _, l := range []string{id, id + "-init"} {
		if ok, _ := e.driver.Exists(context.Background(), l); ok {
			t.Errorf("layer %s left", l)
		}
	}
}

func TestStartMissingCommand(t *testing.T) {
	e := newLiveEnv(t)
	id := e.create("", `{"Image":"busybox","Cmd":["nosuchcmd"]}`)
	code, body := e.call("POST", "/v1.19/containers/"+id+"/start", "")
	if code != 404 || !strings.Contains(body, "Cannot start container "+id) {
		t.Fatalf("start: %d %s", code, body)
	}
	_, body = e.call("GET", "/v1.19/containers/"+id+"/json", "")
	if !strings.Contains(body, `"Running":false`) || !strings.Contains(body, `"ExitCode":-1`) || !strings.Contains(body, "nosuchcmd") {
		t.Fatalf("inspect: %s", body)
	}
	// The rootfs was released: the container can be removed.
	if code, body := e.call("DELETE", "/v1.19/containers/"+id, ""); code != 204 {
		t.Fatalf("rm: %d %s", code, body)
	}
}

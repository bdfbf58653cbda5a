package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/errdefs"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s := New(Options{Logger: slog.New(slog.DiscardHandler), Version: "0.0-test"})
	s.Register(func(g *echo.Group) {
		g.GET("/echo-version", func(c echo.Context) error {
			return c.String(http.StatusOK, version.From(c.Request().Context()))
		})
		g.GET("/fail/:class", func(c echo.Context) error {
			cause := errors.New("boom " + c.Param("class"))
			switch c.Param("class") {
			case "invalid":
				return errdefs.InvalidParameter(cause)
			case "notfound":
				return fmt.Errorf("lookup: %w", errdefs.NotFound(cause))
			case "conflict":
				return errdefs.Conflict(cause)
			case "notmodified":
				return errdefs.NotModified(cause)
			case "forbidden":
				return errdefs.Forbidden(cause)
			case "unauthorized":
				return errdefs.Unauthorized(cause)
			case "unavailable":
				return errdefs.Unavailable(cause)
			case "notimplemented":
				return errdefs.NotImplemented(cause)
			case "toolarge":
				return echo.ErrStatusRequestEntityTooLarge
			}
			return cause
		})
	})
	return s
}

func do(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestVersionPrefix(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	for path, want := range map[string]string{
		"/echo-version":       "1.19",
		"/v1.19/echo-version": "1.19",
		"/v1.0/echo-version":  "1.0",
		"/v1.12/echo-version": "1.12",
		"/v1.9/echo-version":  "1.9",
	} {
		rec := do(t, h, "GET", path)
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("%s: %d %q, want 200 %q", path, rec.Code, rec.Body, want)
		}
	}
}

func TestVersionRefused(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	cases := map[string]string{
		"/v1.20/echo-version": "client is newer than server (client API version: 1.20, server API version: 1.19)\n",
		"/v2.0/echo-version":  "client is newer than server (client API version: 2.0, server API version: 1.19)\n",
		"/v0.9/echo-version":  "client is too old, minimum supported API version is 1.0, please upgrade your client to a newer version\n",
		"/v1.x/echo-version":  "malformed API version \"1.x\"\n",
		"/v1..2/echo-version": "malformed API version \"1..2\"\n",
	}
	for path, want := range cases {
		rec := do(t, h, "GET", path)
		if rec.Code != 400 || rec.Body.String() != want {
			t.Errorf("%s: %d %q, want 400 %q", path, rec.Code, rec.Body, want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		if rec.Header().Get("API-Version") != "1.19" {
			t.Errorf("%s: headers missing on an error", path)
		}
	}
}

func TestErrorClassesToStatus(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	cases := []struct {
		class string
		code  int
		body  string
	}{
		{"invalid", 400, "boom invalid\n"},
		{"notfound", 404, "lookup: boom notfound\n"},
		{"conflict", 409, "boom conflict\n"},
		{"notmodified", 304, ""},
		{"forbidden", 403, "boom forbidden\n"},
		{"unauthorized", 401, "boom unauthorized\n"},
		{"unavailable", 500, "boom unavailable\n"},
		{"notimplemented", 500, "boom notimplemented\n"},
		{"plain", 500, "boom plain\n"},
		{"toolarge", 413, "Request Entity Too Large\n"},
	}
	for _, tc := range cases {
		rec := do(t, h, "GET", "/v1.19/fail/"+tc.class)
		if rec.Code != tc.code || rec.Body.String() != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.class, rec.Code, rec.Body, tc.code, tc.body)
		}
		if tc.code != 304 && rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", tc.class, rec.Header().Get("Content-Type"))
		}
	}
}

func TestRouteNotFoundAndWrongMethod(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	for _, r := range []struct{ method, path string }{
		{"GET", "/nope"}, {"GET", "/v1.19/nope"}, {"POST", "/echo-version"}, {"DELETE", "/v1.12/echo-version"}, {"GET", "/v1.19"},
	} {
		rec := do(t, h, r.method, r.path)
		if rec.Code != 404 || rec.Body.String() != "404 page not found\n" {
			t.Errorf("%s %s: %d %q", r.method, r.path, rec.Code, rec.Body)
		}
	}
}

func TestHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).Handler()
	for _, p := range []string{"/echo-version", "/nope", "/v9.9/x"} {
		rec := do(t, h, "GET", p)
		hd := rec.Header()
		if !strings.HasPrefix(hd.Get("Server"), "Docker/1.7.1 (linux)") || !strings.Contains(hd.Get("Server"), "pluggd/0.0-test") ||
			hd.Get("API-Version") != "1.19" || hd.Get("OSType") != "linux" || hd.Get("Docker-Experimental") != "false" {
			t.Errorf("%s: headers %v", p, hd)
		}
	}
}

// serveUnix starts s on a unix socket in a temporary directory and returns
// an HTTP client dialing it.
func serveUnix(t *testing.T, s *Server, group string) (string, *http.Client) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	ls, err := Listen(ctx, "unix://"+sock, ListenOptions{Group: group})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ls) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Errorf("socket left behind: %v", err)
		}
	})
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	return sock, client
}

func TestUnixSocketRealHTTP(t *testing.T) {
	t.Parallel()
	_, client := serveUnix(t, newTestServer(t), "")
	resp, err := client.Get("http://pluggd/v1.12/echo-version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "1.12" || resp.Header.Get("API-Version") != "1.19" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestUnixSocketModeAndGroup(t *testing.T) {
	t.Parallel()
	// A group that exists on every Debian host; "docker" may not.
	g, err := user.LookupGroup("adm")
	if err != nil {
		t.Skip("no group adm on this host")
	}
	sock, _ := serveUnix(t, newTestServer(t), "adm")
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("mode = %v, want socket 0660", fi.Mode())
	}
	gid, _ := strconv.Atoi(g.Gid)
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != gid || int(st.Uid) != os.Getuid() {
		t.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, os.Getuid(), gid)
	}
	// No temporary bind directory is left next to the socket.
	entries, _ := os.ReadDir(filepath.Dir(sock))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the socket", len(entries))
	}
}

func TestUnixSocketMissingGroupAndStaleSocket(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "api.sock")
	// A stale socket from a dead daemon.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ls, err := Listen(context.Background(), "unix://"+sock, ListenOptions{Group: "no-such-group-pluggd"})
	if err != nil {
		t.Fatal(err)
	}
	defer ls[0].Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || int(fi.Sys().(*syscall.Stat_t).Gid) != os.Getgid() {
		t.Errorf("mode %v gid %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid)
	}
	// A regular file at the path is not ours to remove.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Listen(context.Background(), "unix://"+file, ListenOptions{}); err == nil {
		t.Fatal("listened over a regular file")
	}
}

func TestOversizedHeaders(t *testing.T) {
	t.Parallel()
	_, client := serveUnix(t, newTestServer(t), "")
	req, _ := http.NewRequest("GET", "http://pluggd/echo-version", nil)
	req.Header.Set("X-Big", strings.Repeat("a", MaxHeaderBytes+8192))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

func TestListenTCPAndBadAddresses(t *testing.T) {
	t.Parallel()
	ls, err := Listen(context.Background(), "tcp://127.0.0.1:0", ListenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ls[0].Close()
	for _, a := range []string{"ftp://x", "nothing", "fd://"} {
		// fd:// without LISTEN_PID naming this process has nothing to take.
		if _, err := Listen(context.Background(), a, ListenOptions{}); err == nil {
			t.Errorf("Listen(%q) succeeded", a)
		}
	}
}

func TestServeStopsOnContext(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	ls, err := Listen(context.Background(), "tcp://127.0.0.1:0", ListenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ls) }()
	resp, err := http.Get("http://" + ls[0].Addr().String() + "/echo-version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := net.Dial("tcp", ls[0].Addr().String()); err == nil {
		t.Fatal("listener still open")
	}
}

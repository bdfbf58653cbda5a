package devmapper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/test/busybox"
)

// daemonBinaries are what TestDaemonInVM runs: the daemon and the
// plugins it starts (storage-devmapper for -s devicemapper, both exec
// drivers).
var daemonBinaries = map[string]string{
	"pluggd":            "./cmd/pluggd",
	"storage-devmapper": "./plugins/storage-devmapper",
	"exec-native":       "./plugins/exec-native",
	"exec-lxc":          "./plugins/exec-lxc",
}

// daemonStorageOpts keep the pool small: Docker's defaults (10G base,
// 100G/2G loop files) work too but mkfs of a 10 GiB base is slow under
// emulation, and the guest's /tmp is RAM.
var daemonStorageOpts = []string{"dm.basesize=512M", "dm.loopdatasize=2G", "dm.loopmetadatasize=128M"}

// buildDaemonBinaries builds daemonBinaries into dir (from the repository
// holding this test).
func buildDaemonBinaries(ctx context.Context, goBin, root, dir string) error {
	for name, pkg := range daemonBinaries {
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		if name == "exec-lxc" {
			// Static, as the Makefile builds it (its terminals need that).
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// TestDaemonInVM is issue 5's daemon-level subset on a real thin pool: the
// daemon runs with -s devicemapper, imports busybox, runs a container that
// writes a file and reads it back (the logs; the daemon has no changes,
// commit or export endpoint yet to diff through), removes it, and after a
// daemon restart on the same root the image is still listed and runs;
// then the daemon comes back on the same pool with -e lxc and runs a
// container writing in its layer there, /info and inspect naming the
// drivers in use each time. It
// needs device-mapper (the run-in-vm guest; TestInVM passes PLUGGD_BIN with
// the binaries built on the host, otherwise they are built here).
func TestDaemonInVM(t *testing.T) {
	needDM(t)
	if _, err := os.Stat(busybox.DefaultBinary); err != nil {
		t.Fatalf("busybox-static: %v", err)
	}
	bin := os.Getenv("PLUGGD_BIN")
	if bin == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		bin = t.TempDir()
		if err := buildDaemonBinaries(t.Context(), "go", root, bin); err != nil {
			t.Fatal(err)
		}
	}
	tarball, err := busybox.Bytes(busybox.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// Not t.TempDir: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "pluggd-dm")
	if err != nil {
		t.Fatal(err)
	}
	d := &dmDaemon{t: t, dir: dir, sock: filepath.Join(dir, "pluggd.sock")}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d.args = []string{"--config", cfg, "-H", "unix://" + d.sock, "-g", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "exec"), "-p", filepath.Join(dir, "pluggd.pid"), "-D",
		"--plugin-dir", bin, "-s", Name}
	for _, o := range daemonStorageOpts {
		d.args = append(d.args, "--storage-opt", o)
	}
	d.bin = filepath.Join(bin, "pluggd")
	t.Cleanup(d.cleanup)

	step := func(name string) func() {
		start := time.Now()
		return func() { t.Logf("%s: %v", name, time.Since(start).Round(10*time.Millisecond)) }
	}
	done := step("daemon start (pool and base device made)")
	d.start()
	done()

	// /info: the driver in use and Docker 1.7's DriverStatus keys.
	var info struct {
		Driver       string
		DriverStatus [][2]string
	}
	d.getJSON("/v1.19/info", &info)
	if info.Driver != Name {
		t.Fatalf("/info Driver = %q, want %q", info.Driver, Name)
	}
	var keys []string
	for _, kv := range info.DriverStatus {
		keys = append(keys, kv[0])
	}
	want := []string{"Pool Name", "Pool Blocksize", "Backing Filesystem", "Data file", "Metadata file",
		"Data Space Used", "Data Space Total", "Data Space Available", "Metadata Space Used",
		"Metadata Space Total", "Metadata Space Available", "Udev Sync Supported",
		"Deferred Removal Enabled", "Data loop file", "Metadata loop file", "Library Version"}
	if strings.Join(keys, "|") != strings.Join(want, "|") {
		t.Fatalf("/info DriverStatus keys\n got %q\nwant %q", keys, want)
	}
	t.Logf("/info DriverStatus: %q", info.DriverStatus)

	done = step("import busybox")
	code, body := d.do("POST", "/v1.19/images/create?fromSrc=-&repo=busybox&tag=latest", "application/x-tar", bytes.NewReader(tarball))
	if code != 200 || strings.Contains(body, `"error"`) {
		t.Fatalf("import: %d %s", code, body)
	}
	done()

	done = step("run, logs, rm")
	id := d.run("echo hi > /x; cat /x")
	if logs := d.logs(id); logs != "hi\n" {
		t.Fatalf("logs = %q, want %q", logs, "hi\n")
	}
	d.remove(id)
	done()

	done = step("daemon stop and restart on the same root")
	d.stop()
	d.start()
	done()

	d.getJSON("/v1.19/info", &info)
	if info.Driver != Name {
		t.Fatalf("after restart /info Driver = %q", info.Driver)
	}
	var images []struct{ RepoTags []string }
	d.getJSON("/v1.19/images/json", &images)
	if len(images) != 1 || len(images[0].RepoTags) != 1 || images[0].RepoTags[0] != "busybox:latest" {
		t.Fatalf("images after restart = %+v, want busybox:latest", images)
	}
	done = step("run after restart")
	id = d.run("test ! -e /x && cat /etc/hostname >/dev/null && echo again")
	if logs := d.logs(id); logs != "again\n" {
		t.Fatalf("logs after restart = %q, want %q", logs, "again\n")
	}
	if drv, execDrv := d.inspectDrivers(id); drv != Name || execDrv != "native-0.2" {
		t.Fatalf("inspect: Driver %q, ExecDriver %q; want %q, native-0.2", drv, execDrv, Name)
	}
	d.remove(id)
	done()

	// The same on the other exec driver: only /info and inspect differ.
	done = step("daemon restart with -e lxc")
	d.stop()
	lxcArgs := append(slices.Clone(d.args), "-e", "lxc")
	d.args, lxcArgs = lxcArgs, d.args
	d.start()
	d.args = lxcArgs
	done()
	var lxcInfo struct{ Driver, ExecutionDriver string }
	d.getJSON("/v1.19/info", &lxcInfo)
	if lxcInfo.Driver != Name || !strings.HasPrefix(lxcInfo.ExecutionDriver, "lxc-") {
		t.Fatalf("/info under -e lxc: Driver %q, ExecutionDriver %q", lxcInfo.Driver, lxcInfo.ExecutionDriver)
	}
	done = step("run under lxc")
	id = d.run("echo lxc > /y; cat /y; test ! -e /x")
	if logs := d.logs(id); logs != "lxc\n" {
		t.Fatalf("logs under lxc = %q, want %q", logs, "lxc\n")
	}
	if drv, execDrv := d.inspectDrivers(id); drv != Name || execDrv != lxcInfo.ExecutionDriver {
		t.Fatalf("inspect under lxc: Driver %q, ExecDriver %q; want %q, %q", drv, execDrv, Name, lxcInfo.ExecutionDriver)
	}
	d.remove(id)
	done()
	done = step("daemon stop")
	d.stop()
	done()
}

// inspectDrivers returns inspect's Driver and ExecDriver of container id.
func (d *dmDaemon) inspectDrivers(id string) (string, string) {
	d.t.Helper()
	var c struct{ Driver, ExecDriver string }
	d.getJSON("/v1.19/containers/"+id+"/json", &c)
	return c.Driver, c.ExecDriver
}

// dmDaemon is one pluggd process of TestDaemonInVM.
type dmDaemon struct {
	t      *testing.T
	dir    string
	sock   string
	bin    string
	args   []string
	cmd    *exec.Cmd
	logBuf lockedBuffer
	exited chan struct{}
}

func (d *dmDaemon) start() {
	t := d.t
	t.Helper()
	d.cmd = exec.Command(d.bin, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = &d.logBuf, &d.logBuf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func(cmd *exec.Cmd, ch chan struct{}) { _ = cmd.Wait(); close(ch) }(d.cmd, d.exited)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-d.exited:
			t.Fatalf("pluggd exited during start:\n%s", d.logBuf.String())
		default:
		}
		if resp, err := d.client().Get("http://pluggd/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pluggd did not answer /_ping within 2 minutes:\n%s", d.logBuf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *dmDaemon) alive() bool {
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits for a clean exit (the storage plugin
// unmounts and removes its devices and pool on the way).
func (d *dmDaemon) stop() {
	if !d.alive() {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		<-d.exited
		d.t.Errorf("pluggd did not stop within a minute of SIGTERM:\n%s", d.logBuf.String())
	}
}

func (d *dmDaemon) cleanup() {
	d.stop()
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", d.logBuf.String())
	}
	// Whatever a failed run left mounted below dir.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		lines := strings.Split(string(b), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			f := strings.Fields(lines[i])
			if len(f) > 4 && strings.HasPrefix(f[4], d.dir+"/") {
				_ = unix.Unmount(f[4], unix.MNT_DETACH)
			}
		}
	}
	_ = os.RemoveAll(d.dir)
}

func (d *dmDaemon) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.sock)
		},
	}}
}

func (d *dmDaemon) do(method, path, contentType string, body io.Reader) (int, string) {
	d.t.Helper()
	req, err := http.NewRequestWithContext(d.t.Context(), method, "http://pluggd"+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := d.client().Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *dmDaemon) getJSON(path string, v any) {
	d.t.Helper()
	code, body := d.do("GET", path, "", nil)
	if code != 200 {
		d.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		d.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// run creates and starts a busybox container running sh -c script, waits
// for it and requires exit status 0; it returns the container's id.
func (d *dmDaemon) run(script string) string {
	d.t.Helper()
	spec, _ := json.Marshal(map[string]any{"Image": "busybox", "Cmd": []string{"sh", "-c", script}})
	code, body := d.do("POST", "/v1.19/containers/create", "application/json", bytes.NewReader(spec))
	if code != 201 {
		d.t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ Id string }
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.Id == "" {
		d.t.Fatalf("create: %v: %s", err, body)
	}
	if code, body := d.do("POST", "/v1.19/containers/"+created.Id+"/start", "application/json", strings.NewReader("{}")); code != 204 {
		d.t.Fatalf("start: %d %s", code, body)
	}
	code, body = d.do("POST", "/v1.19/containers/"+created.Id+"/wait", "", nil)
	var waited struct{ StatusCode int }
	if code != 200 || json.Unmarshal([]byte(body), &waited) != nil || waited.StatusCode != 0 {
		d.t.Fatalf("wait: %d %s\nlogs: %q", code, body, d.logs(created.Id))
	}
	return created.Id
}

// logs returns the container's stdout and stderr, demultiplexed.
func (d *dmDaemon) logs(id string) string {
	d.t.Helper()
	code, body := d.do("GET", "/v1.19/containers/"+id+"/logs?stdout=1&stderr=1", "", nil)
	if code != 200 {
		d.t.Fatalf("logs: %d %s", code, body)
	}
	var out strings.Builder
	b := []byte(body)
	for len(b) >= 8 {
		n := int(b[4])<<24 | int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		if 8+n > len(b) {
			break
		}
		out.Write(b[8 : 8+n])
		b = b[8+n:]
	}
	return out.String()
}

func (d *dmDaemon) remove(id string) {
	d.t.Helper()
	if code, body := d.do("DELETE", "/v1.19/containers/"+id+"?v=1", "", nil); code != 204 {
		d.t.Fatalf("rm: %d %s", code, body)
	}
}

// lockedBuffer collects the daemon's output from its two streams.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pluggd/pluggd/test/busybox"
)

func TestStoragePluginKilledWhileIdle(t *testing.T) {
	d := startDaemon(t)
	importGo(t, d, "busybox", busyboxTar)
	old := d.storagePid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitGone(old, 5*time.Second) {
		t.Fatalf("plugin %d survived SIGKILL", old)
	}
	// The very next request that needs the driver succeeds.
	info, err := d.goClient().Info(context.Background())
	if err != nil || info.Driver != "overlay" {
		t.Fatalf("info after the plugin died: %v %q", err, info.Driver)
	}
	importGo(t, d, "after", busyboxTar)
	if pid := d.waitStoragePid(old); pid == old {
		t.Fatal("plugin not relaunched")
	}
	if !strings.Contains(d.logs.String(), "storage-overlay") {
		t.Fatalf("daemon log does not name the plugin:\n%s", d.logs.String())
	}
}

func TestStoragePluginKilledDuringImport(t *testing.T) {
	d := startDaemon(t)
	good := importGo(t, d, "busybox", busyboxTar)
	before := countImages(t, d)

	// A 100 MiB import, fed slowly, with the plugin killed midway.
	pr, pw := io.Pipe()
	done := make(chan struct{})
	var code int
	var body string
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", "http://pluggd/v1.19/images/create?fromSrc=-&repo=killed", pr)
		resp, err := d.httpClient().Do(req)
		if err != nil {
			code, body = -1, err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		code, body = resp.StatusCode, string(b)
	}()
	killed := make(chan struct{})
	go func() {
		w := &killAfter{w: pw, limit: 30 << 20, kill: func() {
			syscall.Kill(d.storagePid(), syscall.SIGKILL)
			close(killed)
		}}
		err := busybox.Write(w, busybox.Options{Padding: 100 << 20})
		pw.CloseWithError(err)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("import did not finish within 60s of the plugin's death")
	}
	<-killed
	if !importFailed(code, body) {
		t.Fatalf("import survived the plugin's death: %d %q", code, body)
	}
	t.Logf("import answer after the kill: %d %s", code, strings.TrimSpace(body))
	if n := countImages(t, d); n != before {
		t.Fatalf("%d images after the failed import, want %d", n, before)
	}
	if imageID(t, d, "busybox") != good {
		t.Fatal("busybox changed")
	}
	importGo(t, d, "next", busyboxTar)
}

// killAfter passes writes through and calls kill once limit bytes went by.
type killAfter struct {
	w     io.Writer
	n     int64
	limit int64
	kill  func()
}

func (k *killAfter) Write(p []byte) (int, error) {
	n, err := k.w.Write(p)
	if k.n < k.limit && k.n+int64(n) >= k.limit {
		k.kill()
	}
	k.n += int64(n)
	return n, err
}

func TestPluginsExitWhenDaemonIsKilled(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		pids := d.pluginPids()
		if len(pids) < 2 || d.pluginPidOrZero("exec-"+x.name) == 0 {
			t.Fatalf("plugin processes %v: want storage-overlay and exec-%s", pids, x.name)
		}
		d.kill()
		start := time.Now()
		for _, pid := range pids {
			if !waitGone(pid, 5*time.Second-time.Since(start)) {
				t.Fatalf("plugin %d still running 5s after the daemon's SIGKILL", pid)
			}
		}
		t.Logf("%d plugins gone %v after the daemon's SIGKILL", len(pids), time.Since(start).Round(time.Millisecond))
	})
}

func TestStorageDriverThatCannotStartStopsTheDaemon(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "none.toml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runPluggd(t, 20*time.Second, "--config", filepath.Join(dir, "none.toml"), "-H", "unix://"+filepath.Join(dir, "s.sock"),
		"-g", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"), "-p", filepath.Join(dir, "p.pid"),
		"-s", "nosuchdriver")
	if err == nil || !strings.Contains(out, "nosuchdriver") {
		t.Fatalf("daemon with an unknown storage driver: err=%v\n%s", err, out)
	}
}

// runPluggd runs the daemon expecting it to exit by itself.
func runPluggd(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "pluggd"), args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("still running after %v", timeout)
	}
	return string(out), err
}

// TestStorageDriverMissingFromKernelStopsTheDaemon: naming a driver whose
// kernel feature this host lacks stops the daemon at start with the
// plugin's own reason, never a hang or a silent fallback.
func TestStorageDriverMissingFromKernelStopsTheDaemon(t *testing.T) {
	fs, _ := os.ReadFile("/proc/filesystems")
	if strings.Contains(string(fs), "\taufs\n") {
		t.Skip("this kernel has aufs")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "none.toml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := runPluggd(t, 30*time.Second, "--config", filepath.Join(dir, "none.toml"), "-H", "unix://"+filepath.Join(dir, "s.sock"),
		"-g", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"), "-p", filepath.Join(dir, "p.pid"),
		"-s", "aufs")
	if err == nil || !strings.Contains(out, "aufs is not in /proc/filesystems") {
		t.Fatalf("daemon with -s aufs on a kernel without aufs: err=%v after %v\n%s", err, time.Since(start), out)
	}
	// The home made for the attempt is gone: it would count as aufs'
	// state for a later "auto" start.
	if _, err := os.Stat(filepath.Join(dir, "root", "aufs")); err == nil {
		t.Errorf("the refused driver left %s behind", filepath.Join(dir, "root", "aufs"))
	}
}

// TestStorageDriverAuto: "auto" takes Docker 1.7's priority order (aufs,
// devicemapper, … overlay), skipping the drivers that refuse this host
// with their reasons logged, leaves no trace of the refused ones, and on
// the next start keeps the driver whose state the root holds. Each
// candidate gets only its own options: a dm.* option does not make
// overlay refuse.
func TestStorageDriverAuto(t *testing.T) {
	d := startDaemon(t, "-s", "auto", "--storage-opt", "dm.basesize=20G")
	info, err := d.goClient().Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := os.ReadFile("/proc/filesystems")
	if !strings.Contains(string(fs), "\taufs\n") && info.Driver != "overlay" {
		t.Fatalf("auto chose %q on a host without aufs and device-mapper, want overlay", info.Driver)
	}
	if !strings.Contains(d.logs.String(), "not usable here") || !strings.Contains(d.logs.String(), "driver=aufs") {
		t.Fatalf("the refused drivers and their reasons are not logged:\n%s", d.logs.String())
	}
	for _, name := range []string{"aufs", "devicemapper"} {
		if _, err := os.Stat(filepath.Join(d.root, name)); err == nil {
			t.Errorf("a refused driver left %s/%s behind", d.root, name)
		}
	}
	importGo(t, d, "busybox", busyboxTar)
	d.stop()
	d.restart()
	if !strings.Contains(d.logs.String(), "the root holds this driver's state") {
		t.Fatalf("restart did not keep the driver whose state is on disk:\n%s", d.logs.String())
	}
	if code, _, _ := d.raw("GET", "/v1.19/images/busybox/json", nil); code != 200 {
		t.Fatalf("image lost across an auto restart: %d", code)
	}
}

// TestStorageDriverAutoUnknownOptionPrefix: under "auto" an option no
// driver owns would reach none of them; the daemon refuses it at start.
func TestStorageDriverAutoUnknownOptionPrefix(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "none.toml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runPluggd(t, 30*time.Second, "--config", filepath.Join(dir, "none.toml"), "-H", "unix://"+filepath.Join(dir, "s.sock"),
		"-g", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"), "-p", filepath.Join(dir, "p.pid"),
		"-s", "auto", "--storage-opt", "nosuchdriver.size=1")
	if err == nil || !strings.Contains(out, "nosuchdriver.size") {
		t.Fatalf("daemon with an option of no driver under auto: err=%v\n%s", err, out)
	}
}

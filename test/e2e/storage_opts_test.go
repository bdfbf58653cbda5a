package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pluginDirWith returns a plugin directory holding everything in binDir
// plus the named plugins, built from this checkout when binDir lacks them
// (binDir is built by TestMain without storage-devmapper unless PLUGGD_BIN
// names make's bin/). binDir itself is never written to.
func pluginDirWith(t *testing.T, plugins ...string) string {
	t.Helper()
	missing := []string{}
	for _, p := range plugins {
		if _, err := os.Stat(filepath.Join(binDir, p)); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return binDir
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(binDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(binDir, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range missing {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, p), "./plugins/"+p)
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./plugins/%s: %v\n%s", p, err, out)
		}
	}
	return dir
}

// TestBadStorageOptionStopsTheDaemon: an invalid --storage-opt (or
// storage.options in the TOML file) stops the daemon at start, with a
// non-zero status and a message naming the option, as Docker 1.7's
// NewDeviceSet did ("Unknown option ..."). For devicemapper the options
// are checked before the kernel, so on a host without device-mapper the
// message is about the option, not "driver not supported".
func TestBadStorageOptionStopsTheDaemon(t *testing.T) {
	pluginDir := pluginDirWith(t, "storage-devmapper", "storage-overlay")
	for _, tc := range []struct {
		name   string
		driver string
		opts   []string // --storage-opt flags
		toml   string   // or the config file's [storage] options
		key    string   // the option the message must name
		reason string   // and what it must say about it
	}{
		{name: "dm basesize bogus", driver: "devicemapper", opts: []string{"dm.basesize=bogus"}, key: "dm.basesize", reason: "bogus"},
		{name: "dm fs btrfs", driver: "devicemapper", opts: []string{"dm.fs=btrfs"}, key: "dm.fs", reason: "unsupported filesystem"},
		{name: "dm unknown key", driver: "devicemapper", opts: []string{"dm.foo=1"}, key: "dm.foo", reason: "unknown option"},
		{name: "dm blocksize not 64K multiple", driver: "devicemapper", opts: []string{"dm.blocksize=4K"}, key: "dm.blocksize", reason: "multiple of 64 KiB"},
		{name: "dm bool", driver: "devicemapper", opts: []string{"dm.use_deferred_removal=maybe"}, key: "dm.use_deferred_removal", reason: "invalid syntax"},
		{name: "dm datadev alone", driver: "devicemapper", opts: []string{"dm.datadev=/dev/nonesuch"}, key: "dm.datadev", reason: "dm.metadatadev"},
		// A good option before the bad one does not hide it.
		{name: "dm second option bad", driver: "devicemapper", opts: []string{"dm.basesize=1G", "dm.loopdatasize=1.5G"}, key: "dm.loopdatasize", reason: "invalid size"},
		{name: "dm bad option in TOML", driver: "devicemapper", toml: `options = ["dm.mountopt=discard", "dm.nosuch=1"]`, key: "dm.nosuch", reason: "unknown option"},
		{name: "overlay unknown key", driver: "overlay", opts: []string{"overlay.foo=1"}, key: "overlay.foo", reason: "unknown option"},
		{name: "overlay given a dm option", driver: "overlay", opts: []string{"dm.basesize=10G"}, key: "dm.basesize", reason: "unknown option"},
		{name: "overlay bad option in TOML", driver: "overlay", toml: `options = ["size=1G"]`, key: "size", reason: "unknown option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.toml")
			toml := ""
			if tc.toml != "" {
				toml = "[storage]\n" + tc.toml + "\n"
			}
			if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
				t.Fatal(err)
			}
			sock := filepath.Join(dir, "s.sock")
			args := []string{"--config", cfg, "-H", "unix://" + sock, "-g", filepath.Join(dir, "root"),
				"--exec-root", filepath.Join(dir, "exec"), "-p", filepath.Join(dir, "p.pid"),
				"--plugin-dir", pluginDir, "-s", tc.driver}
			for _, o := range tc.opts {
				args = append(args, "--storage-opt", o)
			}
			start := time.Now()
			out, err := runPluggd(t, 30*time.Second, args...)
			if err == nil {
				t.Fatalf("pluggd -s %s with %v exited 0:\n%s", tc.driver, tc.opts, out)
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("pluggd did not stop by itself: %v\n%s", err, out)
			}
			// The fatal line, not just any log line, names the option.
			var fatal string
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, `msg="pluggd stopped"`) {
					fatal = l
				}
			}
			if !strings.Contains(fatal, tc.key) || !strings.Contains(fatal, tc.reason) || !strings.Contains(fatal, tc.driver) {
				t.Fatalf("the daemon's last word does not name driver %s, option %s and %q:\n%q\nfull output:\n%s",
					tc.driver, tc.key, tc.reason, fatal, out)
			}
			if strings.Contains(fatal, "not supported") || strings.Contains(fatal, "/dev/mapper/control") {
				t.Errorf("the kernel was checked before the options: %q", fatal)
			}
			if _, err := os.Stat(sock); err == nil {
				t.Errorf("the daemon left its socket %s behind", sock)
			}
			t.Logf("refused in %v: %s", time.Since(start).Round(time.Millisecond), fatal)
		})
	}
}

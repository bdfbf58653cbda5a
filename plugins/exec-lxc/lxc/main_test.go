package lxc

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TestMain lets the test binary play the plugin binary's other role: the
// driver under test spawns /proc/self/exe as "supervise <dir>".
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "supervise" {
		os.Exit(Supervise(context.Background(), os.Args[2]))
	}
	code := m.Run()
	if helperDir != "" {
		os.RemoveAll(helperDir)
	}
	os.Exit(code)
}

// helperDir holds the static build of staticPlugin, when it made one.
var helperDir string

// staticPlugin is the plugin binary built static (CGO_ENABLED=0), the
// helper containers need for terminals and exec (tty.go, exec.go), which
// the test binary, dynamic, cannot be: PLUGGD_BIN's exec-lxc when it is
// static, else a build made once per test binary.
var staticPlugin = sync.OnceValues(func() (string, error) {
	if dir := os.Getenv("PLUGGD_BIN"); dir != "" {
		if p, err := filepath.Abs(filepath.Join(dir, "exec-lxc")); err == nil && staticBinary(p) {
			return p, nil
		}
	}
	dir, err := os.MkdirTemp("", "pluggd-lxc-helper-")
	if err != nil {
		return "", err
	}
	helperDir = dir
	bin := filepath.Join(dir, "exec-lxc")
	cmd := osexec.Command("go", "build", "-o", bin, "github.com/pluggd/pluggd/plugins/exec-lxc")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the static plugin: %v\n%s", err, out)
	}
	return bin, nil
})

// withHelper gives d the static plugin as its containers' helper, so that
// it offers terminals and exec as the plugin binary does.
func withHelper(t testing.TB, d *Driver) *Driver {
	t.Helper()
	bin, err := staticPlugin()
	if err != nil {
		t.Fatal(err)
	}
	d.helper = bin
	return d
}

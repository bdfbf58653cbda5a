package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pluggd/pluggd/test/require"

	"github.com/pluggd/pluggd/test/busybox"
)

// binDir holds pluggd and the plugin binaries for every test.
var binDir string

// busyboxTar is the test image, built once from busybox-static.
var busyboxTar []byte

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		return 0
	}
	if reason := missing(); reason != "" {
		if require.Required("root") || require.Required("busybox") {
			fmt.Fprintln(os.Stderr, "e2e: required but unavailable:", reason)
			return 1
		}
		fmt.Println("e2e: skipped:", reason)
		return 0
	}
	binDir = os.Getenv("PLUGGD_BIN")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "pluggd-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		for pkg, name := range map[string]string{"./cmd/pluggd": "pluggd", "./plugins/storage-overlay": "storage-overlay", "./plugins/exec-native": "exec-native", "./plugins/exec-lxc": "exec-lxc", "./plugins/storage-aufs": "storage-aufs"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
			cmd.Dir = repoRoot()
			if name == "exec-lxc" {
				// As the Makefile builds it (STATIC_PLUGINS): only a
				// static exec-lxc can serve terminals (its README).
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			}
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: build", pkg, err)
				return 1
			}
		}
		binDir = dir
	}
	var err error
	busyboxTar, err = busybox.Bytes(busybox.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	probeExecDrivers()
	code := m.Run()
	printDriverSummary(os.Stdout)
	return code
}

// missing says what this host lacks for the end-to-end suite, or "".
func missing() string {
	if os.Geteuid() != 0 {
		return "not root (mounts need it)"
	}
	if _, err := os.Stat(busybox.DefaultBinary); err != nil {
		return "busybox-static is not installed"
	}
	return ""
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

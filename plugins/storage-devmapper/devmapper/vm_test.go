package devmapper

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/test/require"
)

// vmEnv is set in the guest so TestInVM does not recurse there; vmGate
// asks for the VM run at all (or PLUGGD_REQUIRE naming "vm").
const (
	vmEnv  = "PLUGGD_IN_VM"
	vmGate = "PLUGGD_VM"
)

// vmPackages are the test binaries run in the guest, relative to the
// plugin directory: the kernel tests of internal/dm and this package's.
var vmPackages = []string{"internal/dm", "devmapper"}

// TestInVM runs this plugin's device-mapper tests inside a QEMU guest
// booted by ../shared/vm/run-in-vm (a Debian 6.1 kernel with dm-thin),
// because the kernel of pluggd's hosts has no device-mapper. It is slow:
// under emulation (no /dev/kvm) about 10 s for internal/dm and 2 minutes for this package (the
// conformance suite) on an idle machine (up to 8 on a busy one), plus a one-time setup of run-in-vm (a minute, it downloads a
// kernel). So it runs only when PLUGGD_VM=1 or PLUGGD_REQUIRE names "vm".
// Inside the guest PLUGGD_REQUIRE=devicemapper is set, so a dm test that
// would skip fails instead.
func TestInVM(t *testing.T) {
	if os.Getenv(vmEnv) != "" {
		t.Skip("already inside the VM")
	}
	if os.Getenv(vmGate) != "1" && !require.Required("vm") {
		t.Skipf("slow (boots a QEMU guest, about 2 minutes under emulation): set %s=1 or %s=vm to run", vmGate, require.Env)
	}
	require.Root(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// PLUGGD_RUN_IN_VM names the tool where the checkout does not sit next
	// to the shared directory (CI clones elsewhere; .ci/run sets it).
	runInVM := os.Getenv("PLUGGD_RUN_IN_VM")
	if runInVM == "" {
		runInVM = filepath.Join(root, "..", "shared", "vm", "run-in-vm")
	}
	if _, err := os.Stat(runInVM); err != nil {
		require.SkipOrFail(t, "vm", "run-in-vm not found: "+err.Error())
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			require.SkipOrFail(t, "vm", "no go command to build the test binaries")
		}
	}

	// Only this directory is shared, so the guest keeps its own /tmp
	// (the README: no unix sockets on 9p shares).
	share := t.TempDir()
	plugin := filepath.Join(root, "plugins", "storage-devmapper")
	// The daemon and plugin binaries of TestDaemonInVM, built here where
	// Go is fast, into the share.
	binDir := filepath.Join(share, "bin")
	if err := buildDaemonBinaries(t.Context(), goBin, root, binDir); err != nil {
		t.Fatal(err)
	}
	for _, pkg := range vmPackages {
		bin := filepath.Join(share, strings.ReplaceAll(pkg, "/", "_")+".test")
		build := exec.CommandContext(t.Context(), goBin, "test", "-c", "-o", bin, "./"+pkg)
		build.Dir = plugin
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go test -c ./%s: %v\n%s", pkg, err, out)
		}
		t.Run(pkg, func(t *testing.T) {
			run := func() (string, error) {
				start := time.Now()
				cmd := exec.CommandContext(t.Context(), runInVM, "--timeout", "600", "--share", share, "--",
					"env", vmEnv+"=1", require.Env+"=root,devicemapper", "PLUGGD_BIN="+binDir, bin, "-test.v", "-test.count=1")
				cmd.Dir = share
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
				for sc.Scan() {
					t.Log(sc.Text())
				}
				t.Logf("guest run took %v", time.Since(start).Round(time.Second))
				return out.String(), err
			}
			out, err := run()
			// The emulated guest's kernel has been seen to lock up (a
			// CPU stuck in the kernel for minutes, RCU stalls) under a
			// busy host: that is the emulator's failure, not the tests'.
			// One more run, then whatever it says stands.
			if err != nil && guestLockedUp(out) {
				t.Logf("the guest kernel locked up (soft lockup / RCU stall in its console); running the guest once more")
				_, err = run()
			}
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == 125 {
				t.Fatalf("the guest failed to boot: %v", err)
			}
			if err != nil {
				t.Fatalf("tests in the guest failed: %v", err)
			}
		})
	}
}

// repoRoot is the directory holding go.mod, above the test's directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test directory")
		}
		dir = parent
	}
}

// guestLockedUp reports a guest whose kernel stopped making progress, as
// run-in-vm shows it from the guest's console.
func guestLockedUp(out string) bool {
	return strings.Contains(out, "watchdog: BUG: soft lockup") || strings.Contains(out, "rcu_preempt detected stalls")
}

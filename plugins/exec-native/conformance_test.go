package main

import (
	"context"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/core/driver/exec/plugin"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/plugins/exec-native/native"
	"github.com/pluggd/pluggd/test/require"
)

// The native driver's conformance, run through the plugin glue: in
// process over the real gRPC code (TestConformanceGRPC), and as the built
// binary under the daemon's plugin Host (TestConformanceBinary), whose
// process the suite kills with SIGKILL to check that containers survive
// it. The run without the wire is native's own TestConformance.

// TestMain lets this test binary play the plugin binary's other roles, as
// main does: the in-process driver of TestConformanceGRPC spawns
// supervisors from /proc/self/exe, and libcontainer re-executes it as
// its init (nsenter's blank import is in main.go).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			native.Init() // never returns
		case "supervise":
			if len(os.Args) != 3 {
				os.Exit(2)
			}
			os.Exit(native.Supervise(context.Background(), os.Args[2]))
		}
	}
	os.Exit(m.Run())
}

func skipIfUnsupported(t testing.TB, err error) {
	t.Helper()
	if errdefs.IsNotImplemented(err) {
		require.SkipOrFail(t, "native", err.Error())
	}
}

func TestConformanceGRPC(t *testing.T) {
	// The clients open on each root: the first, or the last relaunch's.
	// They are closed by the cleanup NewDriver registers, which runs after
	// the suite removed the check's containers through the last.
	var mu sync.Mutex
	clients := map[string][]*plugin.Client{}
	rootOf := map[exec.Driver]string{}
	start := func(t *testing.T, root string) *plugin.Client {
		t.Helper()
		c, err := plugin.NewInProcess(context.Background(), native.New, exec.InitOptions{Root: root, DaemonProtocolMinor: exec.ProtocolMinor})
		skipIfUnsupported(t, err)
		if err != nil {
			t.Fatalf("NewInProcess: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		clients[root] = append(clients[root], c)
		rootOf[c] = root
		return c
	}
	exectest.RunWithOptions(t, func(t *testing.T) exec.Driver {
		root := exectest.StateRoot(t)
		c := start(t, root)
		t.Cleanup(func() {
			mu.Lock()
			cs := clients[root]
			mu.Unlock()
			for _, c := range cs {
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		})
		return c
	}, exectest.RunOptions{
		// The in-process driver cannot be killed apart from the test:
		// closing its client and server and starting a second one on the
		// same root stands for the relaunch.
		Relaunch: func(t *testing.T, d exec.Driver) exec.Driver {
			mu.Lock()
			root := rootOf[d]
			clients[root] = slices.DeleteFunc(clients[root], func(c *plugin.Client) bool { return c == d })
			mu.Unlock()
			if err := d.(*plugin.Client).Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			return start(t, root)
		},
	})
}

func TestConformanceBinary(t *testing.T) {
	bin := pluginBinary(t)
	exectest.RunWithOptions(t, func(t *testing.T) exec.Driver {
		return startNative(t, bin)
	}, exectest.RunOptions{Relaunch: killAndRelaunch})
}

// startNative starts one native plugin process for t under a Host of its
// own, stopped in t's cleanup (after the suite removed the containers).
func startNative(t *testing.T, bin string) *driver.Exec {
	t.Helper()
	host := driver.NewHost(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := host.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := host.StartExec(ctx, driver.ExecConfig{Name: "native", Binary: bin, Root: exectest.StateRoot(t)})
	skipIfUnsupported(t, err)
	if err != nil {
		t.Fatalf("StartExec: %v", err)
	}
	return e
}

// killAndRelaunch kills the plugin process with SIGKILL and waits for the
// Host to have relaunched it (it then calls Restore itself).
func killAndRelaunch(t *testing.T, d exec.Driver) exec.Driver {
	t.Helper()
	e := d.(*driver.Exec)
	old := e.Pid()
	if old <= 0 {
		t.Fatalf("the plugin process is not running (pid %d)", old)
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the plugin process %d: %v", old, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid := e.Pid(); pid > 0 && pid != old {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Host did not relaunch the plugin within 30s of killing pid %d", old)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pluginBinary returns the exec-native binary: $PLUGGD_BIN/exec-native
// when PLUGGD_BIN is set (make test), else one built for this test.
func pluginBinary(t testing.TB) string {
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
	out, err := osexec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

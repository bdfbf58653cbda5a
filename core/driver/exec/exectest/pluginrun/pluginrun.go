// Package pluginrun runs the exec conformance suite (exectest) against a
// driver the three ways a driver author needs:
//
//   - Direct: the driver called in this process, without the wire;
//   - GRPC: the driver in this process behind the real gRPC glue
//     (plugin.NewInProcess), so that everything crosses the wire;
//   - Binary: the built plugin binary under the daemon's plugin Host,
//     whose process the suite kills with SIGKILL to check that containers
//     survive it and that a relaunched plugin finds them again.
//
// A plugin's test binary must play the plugin binary's other roles
// (supervisor, init) in its TestMain, as its main does, for Direct and
// GRPC: the in-process driver spawns supervisors from /proc/self/exe.
package pluginrun

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
	"github.com/pluggd/pluggd/test/require"
)

// skipIfUnsupported skips (or fails, when PLUGGD_REQUIRE names need) a
// test whose driver refused this host with NotImplemented.
func skipIfUnsupported(t testing.TB, need string, err error) {
	t.Helper()
	if errdefs.IsNotImplemented(err) {
		require.SkipOrFail(t, need, err.Error())
	}
}

// Direct runs the suite against factory's driver called in this process,
// without the wire. A driver in process cannot be killed apart from the
// test, so "relaunching" it means abandoning the driver value and starting
// a new one on the same root: that checks that the driver keeps no state
// in memory that Restore cannot find again (Binary kills a real process).
func Direct(t *testing.T, need string, factory exec.Factory) {
	var mu sync.Mutex
	roots := map[exec.Driver]string{} // each driver's root, for Relaunch
	start := func(t *testing.T, root string) exec.Driver {
		t.Helper()
		d, err := factory(t.Context(), exec.InitOptions{Root: root, DaemonProtocolMinor: exec.ProtocolMinor})
		skipIfUnsupported(t, need, err)
		if err != nil {
			t.Fatalf("starting the driver: %v", err)
		}
		mu.Lock()
		roots[d] = root
		mu.Unlock()
		return d
	}
	exectest.RunWithOptions(t, func(t *testing.T) exec.Driver {
		return start(t, exectest.StateRoot(t))
	}, exectest.RunOptions{
		Relaunch: func(t *testing.T, d exec.Driver) exec.Driver {
			mu.Lock()
			root := roots[d]
			mu.Unlock()
			return start(t, root)
		},
	})
}

// GRPC runs the suite against factory's driver served in this process
// over the real gRPC code. need names the host requirement (for
// PLUGGD_REQUIRE) a NotImplemented refusal stands for.
func GRPC(t *testing.T, need string, factory exec.Factory) {
	// The clients open on each root: the first, or the last relaunch's.
	// They are closed by the cleanup NewDriver registers, which runs after
	// the suite removed the check's containers through the last.
	var mu sync.Mutex
	clients := map[string][]*plugin.Client{}
	rootOf := map[exec.Driver]string{}
	start := func(t *testing.T, root string) *plugin.Client {
		t.Helper()
		c, err := plugin.NewInProcess(context.Background(), factory, exec.InitOptions{Root: root, DaemonProtocolMinor: exec.ProtocolMinor})
		skipIfUnsupported(t, need, err)
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

// Binary runs the suite against the plugin binary bin, started under a
// plugin Host as the daemon starts it (name is the driver's name there).
func Binary(t *testing.T, need, name, bin string) {
	exectest.RunWithOptions(t, func(t *testing.T) exec.Driver {
		return Start(t, need, name, bin)
	}, exectest.RunOptions{Relaunch: KillAndRelaunch})
}

// Start starts one plugin process of bin for t under a Host of its own,
// stopped in t's cleanup (after the suite removed the containers).
func Start(t *testing.T, need, name, bin string) *driver.Exec {
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
	e, err := host.StartExec(ctx, driver.ExecConfig{Name: name, Binary: bin, Root: exectest.StateRoot(t)})
	skipIfUnsupported(t, need, err)
	if err != nil {
		t.Fatalf("StartExec: %v", err)
	}
	return e
}

// KillAndRelaunch kills the plugin process with SIGKILL and waits for the
// Host to have relaunched it (it then calls Restore itself).
func KillAndRelaunch(t *testing.T, d exec.Driver) exec.Driver {
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

// PluginBinary returns the plugin binary called name: $PLUGGD_BIN/<name>
// when PLUGGD_BIN is set (make test builds it), else one built from the
// package in the current directory for this test, with env added to the
// build's environment (e.g. CGO_ENABLED=0, as the Makefile builds it).
func PluginBinary(t testing.TB, name string, env ...string) string {
	t.Helper()
	if dir := os.Getenv("PLUGGD_BIN"); dir != "" {
		bin, err := filepath.Abs(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("PLUGGD_BIN is set but: %v", err)
		}
		return bin
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := osexec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

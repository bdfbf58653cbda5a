package lxc

import (
	"sync"
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/test/require"
)

// TestConformance runs the exec conformance suite against the LXC driver
// in this process (the plugin's own tests run it again through the gRPC
// glue and as the built binary). The test binary plays the supervisor
// (TestMain). "Relaunching" the in-process driver means abandoning it and
// starting a new one on the same root: it keeps no state in memory.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	roots := map[exec.Driver]string{}
	start := func(t *testing.T, root string) exec.Driver {
		t.Helper()
		d, err := New(t.Context(), exec.InitOptions{Root: root, DaemonProtocolMinor: exec.ProtocolMinor})
		if errdefs.IsNotImplemented(err) {
			require.SkipOrFail(t, "lxc", err.Error())
		}
		if err != nil {
			t.Fatalf("lxc.New: %v", err)
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

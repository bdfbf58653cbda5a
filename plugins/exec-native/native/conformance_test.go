package native_test

import (
	"sync"
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/plugins/exec-native/native"
	"github.com/pluggd/pluggd/test/require"
)

// TestConformance runs the exec conformance suite against the native
// driver in this process (the plugin's own tests run it again through the
// gRPC glue and as the built binary). The test binary plays the
// supervisor and libcontainer's init (TestMain).
//
// A driver in process cannot be killed without killing the test, so
// "relaunching" it here means abandoning the driver value and starting a
// new one on the same root: that checks that the driver keeps no state in
// memory that Restore cannot find again. The binary run kills a real
// process.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	roots := map[exec.Driver]string{} // each driver's root, for Relaunch
	start := func(t *testing.T, root string) exec.Driver {
		t.Helper()
		d, err := native.New(t.Context(), exec.InitOptions{Root: root, DaemonProtocolMinor: exec.ProtocolMinor})
		if errdefs.IsNotImplemented(err) {
			require.SkipOrFail(t, "native", err.Error())
		}
		if err != nil {
			t.Fatalf("native.New: %v", err)
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

package exectest_test

import (
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
)

// newMyDriver stands for the Factory of the driver under test, for example
// mydriver.New.
var newMyDriver exec.Factory

// TestConformance is what a driver author puts in a _test.go file of the
// driver's package (it is lower-case here only so that this example is not
// run). The suite itself skips without root or busybox-static, or fails
// when CI lists them in PLUGGD_REQUIRE.
func testConformance(t *testing.T) {
	exectest.Run(t, func(t *testing.T) exec.Driver {
		// A short root: supervisor sockets live below it.
		root := exectest.StateRoot(t)
		d, err := newMyDriver(t.Context(), exec.InitOptions{Root: root, DaemonProtocolMinor: exec.ProtocolMinor})
		if err != nil {
			t.Fatalf("starting the driver: %v", err)
		}
		// The exec contract has no Close: containers are removed by the
		// suite, the root by StateRoot's cleanup.
		return d
	})
}

// A driver author runs the whole contract against a driver with Run, from
// an ordinary test; "go test -run 'TestConformance/Stdio/'" selects a group
// of checks. A driver run as a plugin process can also be killed and
// relaunched: RunWithOptions with RunOptions.Relaunch adds the checks that
// containers survive it (see plugins/exec-native for one through
// core/driver's Host).
func Example() {
	_ = testConformance
}

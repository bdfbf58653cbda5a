package storagetest_test

import (
	"context"
	"os"
	"testing"

	"github.com/pluggd/pluggd/test/require"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/storagetest"
)

// newMyDriver stands for the Factory of the driver under test, for example
// mydriver.New.
var newMyDriver storage.Factory

// TestConformance is what a driver author puts in a _test.go file of the
// driver's package (it is lower-case here only so that this example is not
// run).
func testConformance(t *testing.T) {
	// Check the host before starting: a missing kernel feature skips,
	// or fails when CI sets PLUGGD_REQUIRE=myfs.
	if _, err := os.Stat("/sys/module/myfs"); err != nil {
		require.SkipOrFail(t, "myfs", "the myfs kernel module is not loaded")
	}
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		home := t.TempDir() // removed after the cleanups below
		d, err := newMyDriver(t.Context(), storage.InitOptions{Home: home})
		if err != nil {
			t.Fatalf("starting the driver: %v", err)
		}
		t.Cleanup(func() {
			// t.Context is cancelled before cleanups run.
			if err := d.Cleanup(context.Background()); err != nil {
				t.Errorf("Cleanup: %v", err)
			}
		})
		return d
	})
}

// A driver author runs the whole contract against a driver with Run,
// from an ordinary test; "go test -run 'TestConformance/Whiteouts/'"
// selects a group of checks.
func Example() {
	_ = testConformance
}

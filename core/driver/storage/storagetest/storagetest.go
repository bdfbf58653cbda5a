package storagetest

import (
	"testing"

	"github.com/pluggd/pluggd/core/driver/storage"
)

// NewDriver returns a fresh driver with its own empty home for one test. It
// registers its own cleanup (driver.Cleanup, stopping a driver process,
// removing the home) with t.Cleanup, and fails or skips t itself when the
// driver cannot start (see SkipOrFail).
type NewDriver func(t *testing.T) storage.Driver

// Run runs every conformance check against drivers made by newDriver, each
// as a subtest "<group>/<check>" with a driver of its own. Checks run in
// parallel with each other; select some with go test -run, for example
// -run 'TestConformance/Whiteouts/'.
func Run(t *testing.T, newDriver NewDriver) {
	t.Helper()
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.checks {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(newHarness(t, newDriver(t)))
				})
			}
		})
	}
}

// check is one conformance check; group is a set of related checks, named
// so that go test -run can pick them.
type check struct {
	name string
	run  func(h *harness)
}

type group struct {
	name   string
	checks []check
}

// groups lists the checks. It is a function rather than a package variable
// so nothing in the package is mutable.
func groups() []group {
	return []group{
		{"Layers", layerChecks()},
		{"Parents", parentChecks()},
		{"Mounts", mountChecks()},
		{"InUse", inUseChecks()},
		{"Whiteouts", whiteoutChecks()},
		{"Metadata", metadataChecks()},
		{"Changes", changesChecks()},
		{"ByteExact", byteExactChecks()},
		{"BadInput", badInputChecks()},
		{"Streams", streamChecks()},
		{"Status", statusChecks()},
		{"Concurrency", concurrencyChecks()},
	}
}

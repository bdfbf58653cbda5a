package storagetest

import (
	"os"
	"strings"
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

// Required reports whether requirement is named in the PLUGGD_REQUIRE
// environment variable (a comma separated list), that is whether a missing
// requirement must fail rather than skip.
func Required(requirement string) bool {
	for _, r := range strings.Split(os.Getenv("PLUGGD_REQUIRE"), ",") {
		if strings.TrimSpace(r) == requirement {
			return true
		}
	}
	return false
}

// SkipOrFail ends t because requirement is not met on this host, for the
// reason given: it skips, or fails when PLUGGD_REQUIRE names requirement.
func SkipOrFail(t testing.TB, requirement, reason string) {
	t.Helper()
	if Required(requirement) {
		t.Fatalf("requirement %q is not met (and PLUGGD_REQUIRE demands it): %s", requirement, reason)
	}
	t.Skipf("requirement %q is not met: %s (set PLUGGD_REQUIRE=%s to fail instead)", requirement, reason, requirement)
}

// RequireRoot skips t, or fails it under PLUGGD_REQUIRE=root, unless the
// test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "root", "needs to run as root")
	}
}

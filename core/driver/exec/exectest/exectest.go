package exectest

import (
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec"
)

// NewDriver returns a fresh driver with its own empty state root for one
// test. It registers its own cleanup (stopping a driver process, removing
// the root) with t.Cleanup, and fails or skips t itself when the driver
// cannot start (see test/require). The suite registers the cleanup of the
// containers it creates after NewDriver returns, so those run first.
type NewDriver func(t *testing.T) exec.Driver

// RunOptions are the optional parts of a run.
type RunOptions struct {
	// Relaunch kills the process of d, a driver NewDriver returned, with
	// SIGKILL, and returns the driver to use from then on, once the new
	// process serves calls: d itself when something relaunches the process
	// behind the same value (as core/driver's Host does), or a new driver
	// started on d's state root. Nil skips the "Relaunch" group, which is
	// the only one that needs it.
	//
	// A driver in process cannot be killed apart from the test; starting
	// a second one on the same root, abandoning the first, still checks
	// that the driver keeps nothing in memory that Restore cannot find.
	// The new driver must stay usable until the cleanups of t that were
	// registered before Relaunch ran (they remove the check's containers
	// through it), so stop it from a cleanup registered by NewDriver, not
	// from one Relaunch registers.
	Relaunch func(t *testing.T, d exec.Driver) exec.Driver
}

// Run runs every conformance check against drivers made by newDriver,
// each as a subtest "<group>/<check>" with a driver of its own. Select
// some with go test -run, for example -run 'TestConformance/Stdio/'.
func Run(t *testing.T, newDriver NewDriver) {
	t.Helper()
	RunWithOptions(t, newDriver, RunOptions{})
}

// RunWithOptions is Run with options, for a driver that can be killed and
// relaunched.
func RunWithOptions(t *testing.T, newDriver NewDriver, opts RunOptions) {
	t.Helper()
	requireHost(t)
	image := newImage(t)
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.checks {
				t.Run(c.name, func(t *testing.T) {
					if !c.serial {
						t.Parallel()
					}
					c.run(newHarness(t, newDriver(t), image, opts))
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
	// serial keeps a check from running beside others, for checks that
	// measure time (a loaded 2-core host delays a container by seconds).
	serial bool
}

type group struct {
	name   string
	checks []check
}

// groups lists the checks. It is a function rather than a package variable
// so nothing in the package is mutable.
func groups() []group {
	return []group{
		{"Lifecycle", lifecycleChecks()},
		{"Errors", errorChecks()},
		{"Signals", signalChecks()},
		{"Stdio", stdioChecks()},
		{"Log", logChecks()},
		{"Tty", ttyChecks()},
		{"Process", processChecks()},
		{"Config", configChecks()},
		{"Restore", restoreChecks()},
		{"Relaunch", relaunchChecks()},
		{"Pause", pauseChecks()},
		{"Stats", statsChecks()},
		{"Concurrency", concurrencyChecks()},
		{"Exec", execChecks()},
	}
}

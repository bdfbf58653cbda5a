// Package exectest is the conformance suite for execution drivers: a
// library that checks an exec.Driver against the contract in package
// core/driver/exec, by its behaviour alone, with real containers.
//
// A driver author calls Run from an ordinary Go test with a NewDriver
// function that starts a fresh driver with its own state root (StateRoot
// makes one short enough for unix socket paths). Run starts one subtest per
// check, "<group>/<check>", each with its own driver, in parallel where the
// check allows. Every container runs a busybox root filesystem built from
// the host's busybox-static (package test/busybox), unpacked into a
// temporary directory: the suite never pulls an image.
//
// The checks drive the control plane through the exec.Driver interface and
// the data plane the way the daemon does, through each container's
// supervisor (package core/driver/exec/supervisor): attach to stdio before
// Start, resize the terminal, wait for the exit status; and they read the
// json-file log at ContainerSpec.LogPath with package core/jsonlog. The same
// suite runs three ways in pluggd: the driver in process, through the gRPC
// glue in process, and as the built plugin binary under the daemon's
// plugin host.
//
// # Killing the driver
//
// A driver's containers must outlive its process. The suite can only check
// that when it can kill the driver: RunOptions.Relaunch kills the driver
// process with SIGKILL and returns a driver relaunched on the same state
// root. The checks in group "Relaunch" then assert that containers kept
// running, that their supervisors kept answering, and that Restore, State,
// Signal and Wait work afterwards. Without Relaunch the group is skipped.
//
// # Requirements
//
// The suite needs root and /bin/busybox (Debian's busybox-static). Without
// them it skips with the reason, or fails when the environment variable
// PLUGGD_REQUIRE names the missing requirement ("root", "busybox"), as CI
// sets it (package test/require). Optional behaviour (pause, stats,
// terminals) is found from Info().Capabilities, never from the driver's
// name; checks of a missing capability are skipped.
//
// # What it must not do
//
// The suite never looks inside a driver's state root and never assumes a
// layout. It keeps no package-level state, so several drivers can be checked
// in one test binary. Every container a check creates is killed and deleted
// by t.Cleanup, also when the check fails, before its root filesystem and
// log directory are removed.
package exectest

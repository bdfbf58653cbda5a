// Package storagetest is the conformance suite for storage drivers: a
// library that checks a storage.Driver against the contract in package
// storage, by its behaviour alone.
//
// A driver author calls Run from an ordinary Go test with a NewDriver
// function that starts a fresh driver with its own empty home. Run starts
// one subtest per check, each with its own driver, in parallel. The checks
// drive only the storage.Driver interface and the real directories Get
// returns: they build layer tar streams with archive/tar (PAX records, GNU
// long names, whiteouts, hardlinks, hostile paths, ...), apply them, and
// look at the mounted result and at what Diff, Changes and DiffSize report.
// The same suite is run three ways in pluggd: against a driver in process,
// through the gRPC glue in process, and against the built plugin binary.
//
// # Requirements
//
// Some checks need root or a host feature (for example trusted.* extended
// attributes, device nodes, user.* xattrs on the temporary filesystem, or a
// driver with Capabilities.ByteExactDiff). Without it they are skipped with
// the reason. CI sets the environment variable PLUGGD_REQUIRE to a comma
// separated list of requirement names ("root", "xattr",
// "byte-exact-diff", or a driver's own such as "overlay"); a listed
// requirement that is missing fails the check instead of skipping it, so a
// misconfigured CI host cannot silently pass. Drivers use SkipOrFail for
// their own requirements, such as a kernel filesystem, in NewDriver.
//
// # What it must not do
//
// The suite never looks inside a driver's home, never assumes a layout,
// and never decides anything by the driver's name: optional behaviour is
// found from Info().Capabilities. It keeps no package-level state, so
// several drivers can be checked in the same test binary. Everything a
// check creates is removed by t.Cleanup, including on failure.
package storagetest

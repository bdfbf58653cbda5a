// Package require lets tests say what the host must offer them (root,
// overlayfs, busybox-static, ...). A test whose requirement is missing
// skips with the reason, except when the PLUGGD_REQUIRE environment
// variable (a comma-separated list, set by CI) names the requirement: then
// it fails, so that CI can never pass by skipping.
package require

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// Env is the variable listing the requirements that must not skip.
const Env = "PLUGGD_REQUIRE"

// Required reports whether PLUGGD_REQUIRE names requirement.
func Required(requirement string) bool {
	for _, r := range strings.Split(os.Getenv(Env), ",") {
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
		t.Fatalf("requirement %q is not met (and %s demands it): %s", requirement, Env, reason)
	}
	t.Skipf("requirement %q is not met: %s (set %s=%s to fail instead)", requirement, reason, Env, requirement)
}

// Root requires the test to run as root (requirement "root").
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "root", "needs to run as root")
	}
}

// Overlay requires root and an overlayfs the kernel offers (requirements
// "root" and "overlay"). Docker checked /proc/filesystems for the exact
// line "nodev\toverlay"; so do we.
func Overlay(t testing.TB) {
	t.Helper()
	Root(t)
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		SkipOrFail(t, "overlay", err.Error())
	}
	if !slices.Contains(strings.Split(string(b), "\n"), "nodev\toverlay") {
		SkipOrFail(t, "overlay", `"nodev\toverlay" is not in /proc/filesystems`)
	}
}

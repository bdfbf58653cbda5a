package lxc

import (
	"context"
	"os"
	"testing"
)

// TestMain lets the test binary play the plugin binary's other role: the
// driver under test spawns /proc/self/exe as "supervise <dir>".
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "supervise" {
		os.Exit(Supervise(context.Background(), os.Args[2]))
	}
	os.Exit(m.Run())
}

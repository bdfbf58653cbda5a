package native

import (
	"context"
	"os"
	"testing"

	// The test binary is also libcontainer's init, as the plugin binary
	// is (see ../main.go): nsenter must run before the Go runtime.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// TestMain lets the test binary play the plugin binary's other roles:
// libcontainer re-executes it as "init", and the driver as
// "supervise <dir>" (the driver under test spawns /proc/self/exe). Every
// test of this package, the conformance suite's included, relies on it.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			Init() // never returns
		case "supervise":
			os.Exit(Supervise(context.Background(), os.Args[2]))
		case helperDriverRole:
			os.Exit(helperDriver(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

package main

import (
	"context"
	"os"
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec/exectest/pluginrun"
	"github.com/pluggd/pluggd/plugins/exec-native/native"
)

// The native driver's conformance, run through the plugin glue: in
// process over the real gRPC code (TestConformanceGRPC), and as the built
// binary under the daemon's plugin Host (TestConformanceBinary), whose
// process the suite kills with SIGKILL to check that containers survive
// it. The run without the wire is native's own TestConformance.

// TestMain lets this test binary play the plugin binary's other roles, as
// main does: the in-process driver of TestConformanceGRPC spawns
// supervisors from /proc/self/exe, and libcontainer re-executes it as
// its init (nsenter's blank import is in main.go).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			native.Init() // never returns
		case "supervise":
			if len(os.Args) != 3 {
				os.Exit(2)
			}
			os.Exit(native.Supervise(context.Background(), os.Args[2]))
		}
	}
	os.Exit(m.Run())
}

func TestConformanceGRPC(t *testing.T) {
	pluginrun.GRPC(t, "native", native.New)
}

func TestConformanceBinary(t *testing.T) {
	pluginrun.Binary(t, "native", "native", pluginrun.PluginBinary(t, "exec-native"))
}

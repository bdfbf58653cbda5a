package main

import (
	"context"
	"os"
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec/exectest/pluginrun"
	"github.com/pluggd/pluggd/plugins/exec-lxc/lxc"
)

// The LXC driver's conformance through the plugin glue: in process over
// the real gRPC code, and as the built binary under the daemon's plugin
// Host (killed and relaunched by the suite). The run without the wire is
// package lxc's TestConformance. Only the binary run, static as the
// Makefile builds it, can give containers a terminal (lxc/tty.go); the
// in-process runs skip the terminal checks, as the driver declares.

// TestMain lets this test binary play the plugin binary's supervisor
// role, as main does.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "supervise" {
		os.Exit(lxc.Supervise(context.Background(), os.Args[2]))
	}
	os.Exit(m.Run())
}

func TestConformanceGRPC(t *testing.T) {
	pluginrun.GRPC(t, "lxc", lxc.New)
}

func TestConformanceBinary(t *testing.T) {
	pluginrun.Binary(t, "lxc", "lxc", pluginrun.PluginBinary(t, "exec-lxc", "CGO_ENABLED=0"))
}

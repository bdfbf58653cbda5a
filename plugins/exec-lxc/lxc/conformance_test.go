package lxc

import (
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec/exectest/pluginrun"
)

// TestConformance runs the exec conformance suite against the LXC driver
// in this process (the plugin's own tests run it again through the gRPC
// glue and as the built binary). The test binary plays the supervisor
// (TestMain).
func TestConformance(t *testing.T) {
	pluginrun.Direct(t, "lxc", New)
}

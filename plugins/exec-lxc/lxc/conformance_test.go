package lxc

import (
	"context"
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest/pluginrun"
)

// TestConformance runs the exec conformance suite against the LXC driver
// in this process (the plugin's own tests run it again through the gRPC
// glue and as the built binary). The test binary plays the supervisor
// (TestMain); a static build of the plugin is the containers' helper, so
// that the terminal and exec checks run here too.
func TestConformance(t *testing.T) {
	pluginrun.Direct(t, "lxc", func(ctx context.Context, opts exec.InitOptions) (exec.Driver, error) {
		d, err := newDriver(ctx, opts, "/proc/self/exe")
		if err != nil {
			return nil, err
		}
		return withHelper(t, d), nil
	})
}

package native_test

import (
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec/exectest/pluginrun"
	"github.com/pluggd/pluggd/plugins/exec-native/native"
)

// TestConformance runs the exec conformance suite against the native
// driver in this process (the plugin's own tests run it again through the
// gRPC glue and as the built binary). The test binary plays the
// supervisor and libcontainer's init (TestMain).
func TestConformance(t *testing.T) {
	pluginrun.Direct(t, "native", native.New)
}

// Command storage-overlay is pluggd's overlay storage driver plugin. The
// daemon starts it; run by hand it only prints a hint. See README.md.
package main

import (
	"github.com/pluggd/pluggd/core/driver/storage/plugin"
	"github.com/pluggd/pluggd/plugins/storage-overlay/overlay"
)

func main() {
	plugin.Serve(overlay.New)
}

// Command storage-devmapper is pluggd's devicemapper storage driver plugin.
// The daemon starts it; run by hand it only prints a hint. See README.md:
// without device-mapper it refuses to start, saying why.
package main

import (
	"github.com/pluggd/pluggd/core/driver/storage/plugin"
	"github.com/pluggd/pluggd/plugins/storage-devmapper/devmapper"
)

func main() {
	plugin.Serve(devmapper.New)
}

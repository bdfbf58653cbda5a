// Command storage-aufs is pluggd's aufs storage driver plugin. The daemon
// starts it; on a kernel without aufs it refuses at start. See README.md.
package main

import (
	"github.com/pluggd/pluggd/core/driver/storage/plugin"
	"github.com/pluggd/pluggd/plugins/storage-aufs/aufs"
)

func main() {
	plugin.Serve(aufs.New)
}

// Command exec-native is pluggd's native execution driver plugin (runc's
// libcontainer). The one binary plays three roles, by its first argument:
//
//	init              libcontainer's container init ("runc init"), re-executed
//	                  by libcontainer inside the new namespaces
//	supervise <dir>   a container's supervisor, spawned by the driver
//	(anything else)   the plugin, started by the daemon
//
// See README.md.
package main

import (
	"context"
	"os"

	// A blank import libcontainer strictly requires (the other, of
	// opencontainers/cgroups/devices, is in package native): nsenter's cgo
	// constructor joins and creates namespaces before the Go runtime
	// starts threads (setns of a mount or user namespace needs a single-
	// threaded process), when this binary runs as "init". In every other
	// role it sees no _LIBCONTAINER_INITPIPE and returns at once.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/pluggd/pluggd/core/driver/exec/plugin"
	"github.com/pluggd/pluggd/plugins/exec-native/native"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			// Dispatched at the top of main, before the program does
			// anything else: that is all libcontainer's init needs, so
			// no init() function is used (runc has one; nsenter's C
			// part already ran before any Go code).
			native.Init() // never returns
		case "supervise":
			if len(os.Args) != 3 {
				os.Stderr.WriteString("usage: exec-native supervise <state dir>\n")
				os.Exit(2)
			}
			os.Exit(native.Supervise(context.Background(), os.Args[2]))
		}
	}
	plugin.Serve(native.New)
}

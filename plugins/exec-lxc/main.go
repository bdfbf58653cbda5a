// Command exec-lxc is pluggd's LXC execution driver plugin. The one binary
// plays several roles, by its first argument:
//
//	supervise <dir>   a container's supervisor, spawned by the driver
//	tty-init <prog>…  a terminal container's first init (see lxc/tty.go)
//	exec-helper       an exec process's first step in its container, run
//	                  by lxc-attach (see lxc/exec.go)
//	(anything else)   the plugin, started by the daemon
//
// See README.md.
package main

import (
	"context"
	"os"

	"github.com/pluggd/pluggd/core/driver/exec/plugin"
	"github.com/pluggd/pluggd/plugins/exec-lxc/lxc"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == lxc.TTYInitArg {
		os.Exit(lxc.TTYInit(os.Args[2:]))
	}
	if len(os.Args) == 2 && os.Args[1] == lxc.ExecHelperArg {
		os.Exit(lxc.ExecHelper())
	}
	if len(os.Args) > 1 && os.Args[1] == "supervise" {
		if len(os.Args) != 3 {
			os.Stderr.WriteString("usage: exec-lxc supervise <state dir>\n")
			os.Exit(2)
		}
		os.Exit(lxc.Supervise(context.Background(), os.Args[2]))
	}
	plugin.Serve(lxc.New)
}

package supervisor_test

import (
	"context"
	"os"

	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
)

// A driver binary re-executes itself as a container's supervisor: its main
// recognises the subcommand it gave Spawn and hands Main its Runtime.
func ExampleMain() {
	if len(os.Args) > 2 && os.Args[1] == "supervise" {
		var rt supervisor.Runtime // the driver's own, reading its spec from os.Args[2]
		os.Exit(supervisor.Main(context.Background(), rt))
	}
}

// The driver's Create spawns the supervisor; Spawn returns once the
// container is created, or with the Runtime's error.
func ExampleSpawn() {
	ctx := context.Background()
	self, _ := os.Executable()
	dir := "/run/pluggd/exec/native/0123abcd"
	h, err := supervisor.Spawn(ctx, supervisor.SpawnOptions{
		Path:     self,
		Args:     []string{"supervise", dir},
		StateDir: dir,
		Config: supervisor.Config{
			ID:      "0123abcd",
			LogPath: "/var/lib/pluggd/containers/0123abcd/0123abcd-json.log",
		},
	})
	if err != nil {
		return // errdefs.IsInvalidParameter(err) for a missing program
	}
	c, _ := supervisor.Dial(ctx, h.Socket)
	c.Start(ctx)
}

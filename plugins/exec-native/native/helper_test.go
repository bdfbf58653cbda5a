package native

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/pluggd/pluggd/core/driver/exec"
)

// helperDriverRole makes the test binary a short-lived driver process:
// "test-driver <root> <spec file>" creates and starts the container of the
// spec, prints its State as JSON and waits to be killed. It stands for a
// plugin process that dies while its containers run.
const helperDriverRole = "test-driver"

func helperDriver(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: test-driver <root> <spec file>")
		return 2
	}
	b, err := os.ReadFile(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var spec exec.ContainerSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	d, err := newDriver(exec.InitOptions{Root: args[0]}, "/proc/self/exe")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := d.Create(ctx, spec); err != nil {
		fmt.Fprintln(os.Stderr, "Create:", err)
		return 1
	}
	st, err := d.Start(ctx, spec.ID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Start:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(st); err != nil {
		return 1
	}
	select {} // until killed
}

package supervisor

import (
	"context"
	"fmt"
	"os"
)

// Main is the body of a supervisor process: the driver binary, re-executed
// by Spawn, calls it with the container's Runtime and exits with the code
// it returns. It reads its Config from the state directory named in the
// environment (EnvStateDir), creates the container, reports to Spawn, and
// serves its socket until the container has exited, its status is recorded
// and attached clients have received all output.
func Main(ctx context.Context, rt Runtime) int {
	fmt.Fprintln(os.Stderr, "supervisor: not implemented yet")
	return 2
}

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/test/require"
)

// TestSwitchingExecDriver: a daemon restarted with the other exec driver
// runs the containers that exited under the first (inspect's ExecDriver
// then names the driver that ran them last), and refuses to start while a
// container still runs under the first, naming it — instead of reporting
// it exited while it runs on, unreachable, with its rootfs mounted.
func TestSwitchingExecDriver(t *testing.T) {
	from, to := execDrivers[0], execDrivers[1]
	for _, x := range []*execDriver{from, to} {
		if x.unusable != "" {
			require.SkipOrFail(t, x.requirement, fmt.Sprintf("exec driver %s cannot run here: %s", x.name, x.unusable))
		}
	}
	d := startDaemon(t, "-e", from.name)
	base := d.args[:len(d.args)-2] // --config FILE
	importGo(t, d, "busybox:latest", busyboxTar)
	d.mustDocker("", nil, "run", "--name", "done", "busybox", "true")
	d.mustDocker("", nil, "run", "-d", "--name", "runner", "busybox", "sleep", "1000")
	pid := d.containerPid("runner")
	d.stop()

	flags := []string{"-H", "unix://" + d.sock, "-g", d.root, "--exec-root", filepath.Join(d.dir, "exec"), "-p", d.pidfile}
	out, err := runPluggd(t, 30*time.Second, append(append(flags, base...), "-e", to.name)...)
	if err == nil || !strings.Contains(out, "runner") || !strings.Contains(out, from.info.Name) {
		t.Fatalf("daemon switched to %s with a container running under %s: err=%v, want a refusal naming runner and %s:\n%s", to.name, from.name, err, from.info.Name, out)
	}
	if !alive(pid) {
		t.Fatal("the refused start killed the container")
	}

	d.start(append(append([]string{}, base...), "-e", from.name)...)
	if got := d.containerPid("runner"); got != pid {
		t.Fatalf("runner's pid %d after the restart, was %d", got, pid)
	}
	d.mustDocker("", nil, "stop", "-t", "1", "runner")
	d.stop()

	d.start(append(append([]string{}, base...), "-e", to.name)...)
	if out := d.mustDocker("", nil, "start", "-a", "done"); out != "" {
		t.Fatalf("start -a done printed %q", out)
	}
	d.mustDocker("", nil, "start", "runner")
	if got := d.mustDocker("", nil, "inspect", "--format", "{{.ExecDriver}} {{.State.Running}}", "runner"); strings.TrimSpace(got) != to.info.Name+" true" {
		t.Fatalf("runner under %s: inspect says %q", to.name, got)
	}
	if code, body, _ := d.raw("GET", "/v1.19/info", nil); code != 200 || !strings.Contains(body, `"ExecutionDriver":"`+to.info.Name+`"`) {
		t.Fatalf("info after the switch: %d %s", code, body)
	}
}

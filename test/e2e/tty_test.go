package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRunInteractiveTTY drives `docker run -it` through a real pseudo-
// terminal (tmux) and checks an echo round trip and the exit code.
func TestRunInteractiveTTY(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		p := newTmuxPane(t, d, 100, 30, "docker run -it --name tty busybox sh; sleep 30")
		p.waitScreen("/ #")
		p.send("echo round-trip-$((6*7)); stty size")
		p.waitScreen("round-trip-42")
		p.waitScreen("30 100")
		p.send("exit 4")
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, _ := d.docker("", nil, "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", "tty")
			if strings.TrimSpace(out) == "false 4" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tty container state %q after exit 4\n%s", out, p.screen())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}, "Tty")
}

func TestAttach(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		d.mustDocker("", nil, "run", "-d", "--name", "talker", "busybox", "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i; sleep 0.3; done; exit 6")
		out, err := d.docker("", nil, "attach", "--no-stdin", "talker")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 6 {
			t.Fatalf("docker attach: %v\n%s", err, out)
		}
		if !strings.HasSuffix(out, "line9\nline10\n") {
			t.Fatalf("attach output %q does not end with the last lines", out)
		}
	})
}

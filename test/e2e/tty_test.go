package e2e

import (
	"os/exec"
	"path/filepath"
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
		sock := filepath.Join(d.dir, "tmux.sock")
		tmux := func(args ...string) string {
			out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("tmux %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		env := strings.Join([]string{"DOCKER_CONFIG=" + filepath.Join(d.dir, "docker-config"), "DOCKER_HOST=unix://" + d.sock}, " ")
		tmux("new-session", "-d", "-s", "pty", "-x", "100", "-y", "30", "env "+env+" docker run -it --name tty busybox sh; sleep 30")
		t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })

		screen := func() string { return tmux("capture-pane", "-p", "-t", "pty") }
		waitScreen := func(want string) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				if strings.Contains(screen(), want) {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("screen never showed %q:\n%s", want, screen())
		}
		waitScreen("/ #")
		tmux("send-keys", "-t", "pty", "echo round-trip-$((6*7)); stty size", "Enter")
		waitScreen("round-trip-42")
		waitScreen("30 100")
		tmux("send-keys", "-t", "pty", "exit 4", "Enter")
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, _ := d.docker("", nil, "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", "tty")
			if strings.TrimSpace(out) == "false 4" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tty container state %q after exit 4\n%s", out, screen())
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

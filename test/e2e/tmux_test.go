package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxPane is a real terminal (a detached tmux session of its own) in
// which a shell command runs with the docker CLI pointed at a daemon.
type tmuxPane struct {
	t    *testing.T
	sock string
}

// newTmuxPane runs command in a width×height terminal, with DOCKER_HOST
// and DOCKER_CONFIG set for d, and kills the session in cleanup. It skips
// t when tmux is not installed.
func newTmuxPane(t *testing.T, d *daemon, width, height int, command string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	p := &tmuxPane{t: t, sock: filepath.Join(d.dir, "tmux.sock")}
	env := strings.Join([]string{"DOCKER_CONFIG=" + filepath.Join(d.dir, "docker-config"), "DOCKER_HOST=unix://" + d.sock}, " ")
	p.tmux("new-session", "-d", "-s", "pty", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), "env "+env+" "+command)
	t.Cleanup(func() { exec.Command("tmux", "-S", p.sock, "kill-server").Run() })
	return p
}

func (p *tmuxPane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// screen is what the terminal shows.
func (p *tmuxPane) screen() string { return p.tmux("capture-pane", "-p", "-t", "pty") }

// send types line and Enter.
func (p *tmuxPane) send(line string) { p.tmux("send-keys", "-t", "pty", line, "Enter") }

// waitScreen waits until the terminal shows want.
func (p *tmuxPane) waitScreen(want string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.screen(), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("screen never showed %q:\n%s", want, p.screen())
}

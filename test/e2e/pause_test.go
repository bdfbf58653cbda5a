package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPauseUnpause: docker pause freezes a running container (its output
// stops, ps and inspect say Paused, also after a daemon restart; stop and
// kill are refused until it is unpaused), docker unpause lets it go on
// where it was.
func TestPauseUnpause(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		d.mustDocker("", nil, "run", "-d", "--name", "ticker", "busybox", "sh", "-c", counter)
		lines := func() int { return strings.Count(d.mustDocker("", nil, "logs", "ticker"), "\n") }
		waitFor(t, 10*time.Second, func() bool { return lines() >= 3 })

		d.mustDocker("", nil, "pause", "ticker")
		if st := d.mustDocker("", nil, "inspect", "--format", "{{.State.Running}} {{.State.Paused}}", "ticker"); strings.TrimSpace(st) != "true true" {
			t.Fatalf("after pause, Running Paused = %q", st)
		}
		if ps := d.mustDocker("", nil, "ps", "--filter", "status=paused", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(ps, "ticker Up ") || !strings.Contains(ps, "(Paused)") {
			t.Fatalf("ps of paused containers: %q", ps)
		}
		time.Sleep(200 * time.Millisecond) // output already in flight lands
		frozen := lines()
		time.Sleep(time.Second) // 20 lines' worth
		if n := lines(); n != frozen {
			t.Fatalf("a paused container wrote %d more lines", n-frozen)
		}
		if out, err := d.docker("", nil, "pause", "ticker"); err == nil || !strings.Contains(out, "already paused") {
			t.Fatalf("second pause: %v %q", err, out)
		}
		for _, args := range [][]string{{"stop", "-t", "1", "ticker"}, {"kill", "ticker"}} {
			if out, err := d.docker("", nil, args...); err == nil || !strings.Contains(out, "Unpause") {
				t.Fatalf("docker %s of a paused container: %v %q", args[0], err, out)
			}
		}

		// A restarted daemon finds it paused (the driver's state says so).
		d.kill()
		d.restart()
		if st := d.mustDocker("", nil, "inspect", "--format", "{{.State.Running}} {{.State.Paused}}", "ticker"); strings.TrimSpace(st) != "true true" {
			t.Fatalf("after a daemon restart, Running Paused = %q", st)
		}

		d.mustDocker("", nil, "unpause", "ticker")
		waitFor(t, 10*time.Second, func() bool { return lines() > frozen+3 })
		consecutive(t, "ticker", d.mustDocker("", nil, "logs", "ticker"), frozen+3)
		if out, err := d.docker("", nil, "unpause", "ticker"); err == nil || !strings.Contains(out, "not paused") {
			t.Fatalf("unpause of a running container: %v %q", err, out)
		}
		d.mustDocker("", nil, "stop", "-t", "1", "ticker")
		if out, err := d.docker("", nil, "pause", "ticker"); err == nil || !strings.Contains(out, "not running") {
			t.Fatalf("pause of a stopped container: %v %q", err, out)
		}
	}, "Pause")
}

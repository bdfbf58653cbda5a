package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const counter = `i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done`

// containerPid returns the host pid of a running container's init.
func (d *daemon) containerPid(name string) int {
	d.t.Helper()
	out := d.mustDocker("", nil, "inspect", "--format", "{{.State.Pid}}", name)
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || pid <= 0 {
		d.t.Fatalf("pid of %s: %q", name, out)
	}
	return pid
}

// alive reports whether pid runs; a zombie (killed, not yet reaped by
// whoever inherited it) does not count.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// consecutive checks that out is the lines 1..n for some n ≥ min, and
// returns n.
func consecutive(t *testing.T, name, out string, min int) int {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		n++
		if sc.Text() != strconv.Itoa(n) {
			t.Fatalf("%s: line %d is %q: output lost or reordered", name, n, sc.Text())
		}
	}
	if n < min {
		t.Fatalf("%s: only %d lines, want at least %d", name, n, min)
	}
	return n
}

// supervisorOf returns the supervisor above a container's process: the
// nearest ancestor running bin/exec-<driver> supervise (the native
// driver's supervisor is the init's parent; LXC's monitor sits between
// under lxc), or 0.
func supervisorOf(pid int, driver string) int {
	for p := parentPid(pid); p > 1; p = parentPid(p) {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(exe) == "exec-"+driver && len(args) > 1 && args[1] == "supervise" {
			return p
		}
	}
	return 0
}

func TestContainersSurviveDaemonSIGKILL(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		names := []string{"c1", "c2", "c3", "c4", "c5"}
		pids := map[string]int{}
		for _, n := range names {
			d.mustDocker("", nil, "run", "-d", "--name", n, "busybox", "sh", "-c", counter)
			pids[n] = d.containerPid(n)
		}
		time.Sleep(500 * time.Millisecond)
		before := map[string]int{}
		for _, n := range names {
			before[n] = consecutive(t, n, d.mustDocker("", nil, "logs", n), 1)
		}

		d.kill()
		time.Sleep(time.Second) // the containers keep writing while no daemon runs
		for _, n := range names {
			if !alive(pids[n]) {
				t.Fatalf("container %s (pid %d) died with the daemon", n, pids[n])
			}
		}

		d.restart()
		ps := d.mustDocker("", nil, "ps", "--format", "{{.Names}} {{.Status}}")
		for _, n := range names {
			if !strings.Contains(ps, n+" Up ") {
				t.Fatalf("after restart, ps lacks %s:\n%s", n, ps)
			}
			if got := d.containerPid(n); got != pids[n] {
				t.Fatalf("%s: pid %d after restart, was %d", n, got, pids[n])
			}
		}

		// logs -f continues from the beginning, with nothing lost across the
		// daemon's death, and ends when the container stops.
		follow := exec.Command("docker", "-H", "unix://"+d.sock, "logs", "-f", "c1")
		follow.Env = d.cliEnv("")
		out, err := follow.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		var lines strings.Builder
		readDone := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				fmt.Fprintln(&lines, sc.Text())
			}
			close(readDone)
		}()
		time.Sleep(500 * time.Millisecond)
		for _, n := range names {
			d.mustDocker("", nil, "stop", "-t", "1", n)
		}
		select {
		case <-readDone:
		case <-time.After(15 * time.Second):
			follow.Process.Kill()
			t.Fatal("logs -f did not end after stop")
		}
		follow.Wait()
		// Each container wrote for ≥ 1.5 s at 20 lines/s across the kill.
		got := consecutive(t, "c1 logs -f", lines.String(), before["c1"]+20)
		t.Logf("c1: %d lines before the kill, %d in all, none lost", before["c1"], got)
		for _, n := range names[1:] {
			consecutive(t, n, d.mustDocker("", nil, "logs", n), before[n]+20)
		}
	})
}

func TestExecPluginSIGKILLLeavesContainersRunning(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		d.mustDocker("", nil, "run", "-d", "--name", "keep", "busybox", "sh", "-c", counter)
		pid := d.containerPid("keep")
		plugin := d.pluginPid("exec-" + x.name)
		if err := syscall.Kill(plugin, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, func() bool { p := d.pluginPidOrZero("exec-" + x.name); return p != 0 && p != plugin })
		if !alive(pid) {
			t.Fatal("the container died with the exec plugin")
		}
		if out := d.mustDocker("", nil, "run", "--rm", "busybox", "echo", "after"); out != "after\n" {
			t.Fatalf("run after the plugin's relaunch: %q", out)
		}
		d.mustDocker("", nil, "stop", "-t", "1", "keep")
		consecutive(t, "keep", d.mustDocker("", nil, "logs", "keep"), 1)
	})
}

func TestSupervisorSIGKILLReportsExited(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		d.mustDocker("", nil, "run", "-d", "--name", "victim", "busybox", "sleep", "1000")
		d.mustDocker("", nil, "run", "-d", "--name", "bystander", "busybox", "sleep", "1000")
		pid := d.containerPid("victim")
		sup := supervisorOf(pid, x.name)
		if sup == 0 {
			t.Fatalf("no exec-%s supervisor among the ancestors of the container's init %d", x.name, pid)
		}
		if err := syscall.Kill(sup, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, func() bool {
			out, _ := d.docker("", nil, "inspect", "--format", "{{.State.Running}}", "victim")
			return strings.TrimSpace(out) == "false"
		})
		state := d.mustDocker("", nil, "inspect", "--format", "{{.State.ExitCode}}|{{.State.Error}}", "victim")
		if !strings.Contains(strings.ToLower(state), "supervisor") {
			t.Fatalf("state after the supervisor's death: %q (want an Error naming the supervisor)", state)
		}
		waitFor(t, 5*time.Second, func() bool { return !alive(pid) })
		if !alive(d.containerPid("bystander")) {
			t.Fatal("another container was hurt")
		}
		d.mustDocker("", nil, "rm", "victim")
		if out := d.mustDocker("", nil, "run", "--rm", "busybox", "echo", "ok"); out != "ok\n" {
			t.Fatalf("run afterwards: %q", out)
		}
	})
}

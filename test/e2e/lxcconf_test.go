package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// createRaw creates a container from a raw v1.19 body and returns its id.
func (d *daemon) createRaw(t *testing.T, body string) string {
	t.Helper()
	code, resp, _ := d.raw("POST", "/v1.19/containers/create", strings.NewReader(body))
	if code != 201 {
		t.Fatalf("create %s: %d %s", body, code, resp)
	}
	var out struct{ Id string }
	if err := json.Unmarshal([]byte(resp), &out); err != nil || !hexID.MatchString(out.Id) {
		t.Fatalf("create answered %q", resp)
	}
	return out.Id
}

// startRaw starts a container with an optional raw start body and returns
// the status and body of the answer.
func (d *daemon) startRaw(t *testing.T, id, body string) (int, string) {
	t.Helper()
	code, resp, _ := d.raw("POST", "/v1.19/containers/"+id+"/start", strings.NewReader(body))
	return code, resp
}

// runRaw creates and starts a container from raw bodies, waits for it and
// returns its output (stdout and stderr, from the log).
func (d *daemon) runRaw(t *testing.T, create, start string) (string, string) {
	t.Helper()
	id := d.createRaw(t, create)
	if code, resp := d.startRaw(t, id, start); code != 204 {
		t.Fatalf("start %s with %s: %d %s", create, start, code, resp)
	}
	if got := strings.TrimSpace(d.mustDocker("", nil, "wait", id)); got != "0" {
		t.Fatalf("%s exited %s: %s", create, got, d.mustDocker("", nil, "logs", id))
	}
	return id, d.mustDocker("", nil, "logs", id)
}

// inspectLxcConf returns inspect's HostConfig.LxcConf as raw JSON.
func (d *daemon) inspectLxcConf(t *testing.T, id string) string {
	t.Helper()
	code, body, _ := d.raw("GET", "/v1.19/containers/"+id+"/json", nil)
	if code != 200 {
		t.Fatalf("inspect %s: %d %s", id, code, body)
	}
	var out struct{ HostConfig map[string]json.RawMessage }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return string(out.HostConfig["LxcConf"])
}

// TestLxcConf: HostConfig.LxcConf in both wire shapes (v1.19's list of
// {Key, Value}; the map of the older documents and docker-py), in create
// and in the start body, under a driver that declares LxcConf: the
// hostname and a cgroup limit take effect, inspect shows the list as Docker
// 1.7 did, and a key LXC does not know is a 400 naming it.
func TestLxcConf(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		for _, c := range []struct{ name, create, start, hostname, inspect string }{
			{"list-lxc1-key", `{"Image":"busybox","Cmd":["hostname"],"HostConfig":{"LxcConf":[{"Key":"lxc.utsname","Value":"from-list"}]}}`, "",
				"from-list", `[{"Key":"lxc.utsname","Value":"from-list"}]`},
			{"map-lxc5-key", `{"Image":"busybox","Cmd":["hostname"],"HostConfig":{"LxcConf":{"lxc.uts.name":"from-map"}}}`, "",
				"from-map", `[{"Key":"lxc.uts.name","Value":"from-map"}]`},
			{"start-body-map", `{"Image":"busybox","Cmd":["hostname"]}`, `{"LxcConf":{"lxc.utsname":"from-start"}}`,
				"from-start", `[{"Key":"lxc.utsname","Value":"from-start"}]`},
			{"start-body-list", `{"Image":"busybox","Cmd":["hostname"]}`, `{"LxcConf":[{"Key":"lxc.uts.name","Value":"from-start-list"}]}`,
				"from-start-list", `[{"Key":"lxc.uts.name","Value":"from-start-list"}]`},
		} {
			t.Run(c.name, func(t *testing.T) {
				id, out := d.runRaw(t, c.create, c.start)
				if out != c.hostname+"\n" {
					t.Fatalf("hostname inside is %q, want %q", out, c.hostname)
				}
				if got := d.inspectLxcConf(t, id); got != c.inspect {
					t.Fatalf("inspect HostConfig.LxcConf = %s, want %s", got, c.inspect)
				}
			})
		}

		t.Run("kept-across-daemon-restart", func(t *testing.T) {
			id := d.createRaw(t, `{"Image":"busybox","Cmd":["hostname"],"HostConfig":{"LxcConf":{"lxc.utsname":"kept"}}}`)
			d.stop()
			d.restart()
			if out := d.mustDocker("", nil, "start", "-a", id); out != "kept\n" {
				t.Fatalf("hostname after a daemon restart: %q", out)
			}
			if got := d.inspectLxcConf(t, id); got != `[{"Key":"lxc.utsname","Value":"kept"}]` {
				t.Fatalf("inspect HostConfig.LxcConf after a restart = %s", got)
			}
		})

		t.Run("cgroup", func(t *testing.T) {
			// cgroup v1 (this project's hosts): cpu.shares, default
			// 1024; a unified host: cpu.weight, default 100.
			key, file, want := "lxc.cgroup.cpu.shares", "cpu.shares", "512"
			inside := "/sys/fs/cgroup/cpu/cpu.shares"
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				key, file, want = "lxc.cgroup2.cpu.weight", "cpu.weight", "50"
				inside = "/sys/fs/cgroup/cpu.weight"
			}
			id := d.createRaw(t, fmt.Sprintf(`{"Image":"busybox","Cmd":["sh","-c","cat %s; exec sleep 1000"],"HostConfig":{"LxcConf":[{"Key":%q,"Value":%q},{"Key":"lxc.mount.auto","Value":"cgroup:ro"}]}}`, inside, key, want))
			if code, resp := d.startRaw(t, id, ""); code != 204 {
				t.Fatalf("start: %d %s", code, resp)
			}
			waitFor(t, 10*time.Second, func() bool { return d.mustDocker("", nil, "logs", id) != "" })
			if got := strings.TrimSpace(d.mustDocker("", nil, "logs", id)); got != want {
				t.Fatalf("%s read inside the container: %q, want %s", inside, got, want)
			}
			if got := hostCgroupValue(t, d.containerPid(id), file); got != want {
				t.Fatalf("%s of the container's cgroup on the host: %q, want %s", file, got, want)
			}
			d.mustDocker("", nil, "rm", "-f", id)
		})

		t.Run("unknown-key", func(t *testing.T) {
			for _, lc := range []string{`[{"Key":"lxc.nosuch.key","Value":"1"}]`, `{"lxc.nosuch.key":"1"}`} {
				id := d.createRaw(t, `{"Image":"busybox","Cmd":["true"],"HostConfig":{"LxcConf":`+lc+`}}`)
				code, resp := d.startRaw(t, id, "")
				if code != 400 || !strings.Contains(resp, "lxc.nosuch.key") {
					t.Fatalf("start with LxcConf %s: %d %q, want 400 naming lxc.nosuch.key", lc, code, resp)
				}
				// The container is left stopped, inspectable, removable.
				if st := d.mustDocker("", nil, "inspect", "--format", "{{.State.Running}}", id); strings.TrimSpace(st) != "false" {
					t.Fatalf("after the refused start: running %q", st)
				}
				d.mustDocker("", nil, "rm", id)
			}
			// Same key in the start body.
			id := d.createRaw(t, `{"Image":"busybox","Cmd":["true"]}`)
			if code, resp := d.startRaw(t, id, `{"LxcConf":{"lxc.nosuch.other":"1"}}`); code != 400 || !strings.Contains(resp, "lxc.nosuch.other") {
				t.Fatalf("start body with an unknown key: %d %q", code, resp)
			}
			if out := d.mustDocker("", nil, "run", "--rm", "busybox", "echo", "fine"); out != "fine\n" {
				t.Fatalf("run afterwards: %q", out)
			}
		})
	}, "LxcConf")
}

// hostCgroupValue reads a cpu controller file of pid's cgroup on the host.
func hostCgroupValue(t *testing.T, pid int, file string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		dir := ""
		switch {
		case f[0] == "0" && file == "cpu.weight":
			dir = filepath.Join("/sys/fs/cgroup", f[2])
		case strings.Contains(","+f[1]+",", ",cpu,"):
			dir = filepath.Join("/sys/fs/cgroup/cpu", f[2])
		default:
			continue
		}
		v, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(v))
	}
	t.Fatalf("no cpu cgroup for %d:\n%s", pid, b)
	return ""
}

// TestMissingCapabilityRefused: what a request asks of the exec driver
// that it does not declare is refused naming the capability and the driver
// the daemon runs — never silently ignored: a setting (LxcConf, Tty) with a
// 400 and nothing created, LxcConf in create and in the start body; an
// operation (pause, stats) with an error.
func TestMissingCapabilityRefused(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		tried := 0
		countContainers := func() int {
			code, body, _ := d.raw("GET", "/v1.19/containers/json?all=1", nil)
			if code != 200 {
				t.Fatalf("list: %d %s", code, body)
			}
			return strings.Count(body, `"Id"`)
		}
		if !x.has("LxcConf") {
			tried++
			for _, lc := range []string{`[{"Key":"lxc.utsname","Value":"x"}]`, `{"lxc.utsname":"x"}`} {
				code, body, h := d.raw("POST", "/v1.19/containers/create", strings.NewReader(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"LxcConf":`+lc+`}}`))
				if code != 400 || !strings.Contains(body, "LxcConf") || !strings.Contains(body, x.info.Name) {
					t.Fatalf("create with LxcConf %s under %s: %d %q, want 400 naming LxcConf and the driver", lc, x.info.Name, code, body)
				}
				plainText(t, h, body)
			}
			if n := countContainers(); n != 0 {
				t.Fatalf("%d containers after refused creates", n)
			}
			id := d.createRaw(t, `{"Image":"busybox","Cmd":["hostname"]}`)
			if code, body := d.startRaw(t, id, `{"LxcConf":{"lxc.utsname":"x"}}`); code != 400 || !strings.Contains(body, x.info.Name) {
				t.Fatalf("start body with LxcConf under %s: %d %q", x.info.Name, code, body)
			}
			// Refused before anything ran: the container was never started.
			if st := d.mustDocker("", nil, "inspect", "--format", "{{.State.StartedAt}}", id); !strings.HasPrefix(st, "0001-01-01") {
				t.Fatalf("refused start left StartedAt %q", st)
			}
		}
		if !x.has("Tty") {
			tried++
			code, body, _ := d.raw("POST", "/v1.19/containers/create", strings.NewReader(`{"Image":"busybox","Cmd":["true"],"Tty":true}`))
			if code != 400 || !strings.Contains(body, "Tty") || !strings.Contains(body, x.info.Name) {
				t.Fatalf("create with Tty under %s: %d %q", x.info.Name, code, body)
			}
			out, err := d.docker("", nil, "run", "--rm", "-t", "busybox", "true")
			if err == nil || !strings.Contains(out, "Tty") {
				t.Fatalf("docker run -t under %s: %v %q", x.info.Name, err, out)
			}
		}
		if !x.has("Pause") {
			tried++
			d.mustDocker("", nil, "run", "-d", "--name", "unpausable", "busybox", "sleep", "1000")
			out, err := d.docker("", nil, "pause", "unpausable")
			if err == nil || !strings.Contains(out, "pause is not supported") || !strings.Contains(out, x.info.Name) {
				t.Fatalf("docker pause under %s: %v %q", x.info.Name, err, out)
			}
		}
		if !x.has("Stats") {
			tried++
			d.mustDocker("", nil, "run", "-d", "--name", "unmeasurable", "busybox", "sleep", "1000")
			code, body, _ := d.raw("GET", "/v1.19/containers/unmeasurable/stats?stream=0", nil)
			if code != 500 || !strings.Contains(body, "stats is not supported") || !strings.Contains(body, x.info.Name) {
				t.Fatalf("stats under %s: %d %q", x.info.Name, code, body)
			}
		}
		if tried == 0 {
			x.skip(t, fmt.Sprintf("exec driver %s declares every capability a request can ask for (LxcConf, Tty, Pause, Stats; Exec is checked by the exec tests)", x.info.Name))
		}
	})
}

// TestExecDriverThatCannotRunStopsTheDaemon: an exec driver refusing this
// host stops the daemon at start with the plugin's own reason (lxc without
// LXC's tools on PATH), as a missing exec plugin does.
func TestExecDriverThatCannotRunStopsTheDaemon(t *testing.T) {
	if _, err := os.Stat(filepath.Join(binDir, "exec-lxc")); err != nil {
		t.Skipf("exec-lxc not built: %v", err)
	}
	for _, c := range []struct {
		name, driver, path, want string
	}{
		{"lxc-without-lxc-tools", "lxc", "/nonexistent", "lxc-start"},
		{"not-installed", "nosuch", os.Getenv("PATH"), "exec driver nosuch: plugin not installed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "none.toml"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, "pluggd"), "--config", filepath.Join(dir, "none.toml"),
				"-H", "unix://"+filepath.Join(dir, "s.sock"), "-g", filepath.Join(dir, "root"),
				"--exec-root", filepath.Join(dir, "exec"), "-p", filepath.Join(dir, "p.pid"), "-e", c.driver)
			cmd.Env = append(filterEnv(os.Environ(), "PATH"), "PATH="+c.path)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("daemon still running after 30s:\n%s", out)
			}
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Fatalf("daemon with -e %s: err=%v, want the reason %q:\n%s", c.driver, err, c.want, out)
			}
		})
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// forEachExecDriverWithExec runs body per exec driver, on a running
// container named "box" (busybox, with /marker written inside it). A
// driver that does not declare Exec must refuse docker exec clearly,
// naming itself: that is what passes for it instead of body.
func forEachExecDriverWithExec(t *testing.T, body func(t *testing.T, d *daemon, x *execDriver)) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		d.mustDocker("", nil, "run", "-d", "--name", "box", "busybox", "sh", "-c", "echo inside > /marker; exec sleep 1000")
		waitFor(t, 10*time.Second, func() bool {
			code, _, _ := d.raw("GET", "/v1.19/containers/box/json", nil)
			return code == 200
		})
		if !x.has("Exec") {
			code, body, _ := d.raw("POST", "/v1.19/containers/box/exec", strings.NewReader(`{"Cmd":["true"]}`))
			want := "exec is not supported by the " + x.info.Name + " execution driver"
			if code != 500 || !strings.Contains(body, want) {
				t.Fatalf("exec on a driver without Exec: %d %q, want 500 with %q", code, body, want)
			}
			if out, err := d.docker("", nil, "exec", "box", "true"); err == nil || !strings.Contains(out, want) {
				t.Fatalf("docker exec on a driver without Exec: %v %q", err, out)
			}
			t.Logf("exec driver %s (%s) does not declare capability Exec: its refusal checked", x.name, x.info.Name)
			return
		}
		body(t, d, x)
	})
}

// execCreate creates an exec instance from a raw body and returns its id.
func (d *daemon) execCreate(t *testing.T, ref, body string) string {
	t.Helper()
	code, resp, _ := d.raw("POST", "/v1.19/containers/"+ref+"/exec", strings.NewReader(body))
	if code != 201 {
		t.Fatalf("exec create %s: %d %s", body, code, resp)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(resp), &out); err != nil || len(out) != 1 || !hexID.MatchString(fmt.Sprint(out["Id"])) {
		t.Fatalf("exec create answered %q, want {\"Id\"} only", resp)
	}
	return out["Id"].(string)
}

// execJSON is what the tests read of GET /exec/{id}/json.
type execJSON struct {
	ID            string
	Running       bool
	ExitCode      int
	ProcessConfig struct {
		Privileged bool     `json:"privileged"`
		User       string   `json:"user"`
		Tty        bool     `json:"tty"`
		Entrypoint string   `json:"entrypoint"`
		Arguments  []string `json:"arguments"`
	}
	OpenStdin, OpenStderr, OpenStdout bool
	Container                         struct {
		ID    string
		Name  string
		State struct{ Running bool }
	}
}

func (d *daemon) execInspect(t *testing.T, id string) execJSON {
	t.Helper()
	code, body, _ := d.raw("GET", "/v1.19/exec/"+id+"/json", nil)
	if code != 200 {
		t.Fatalf("exec inspect: %d %s", code, body)
	}
	var x execJSON
	if err := json.Unmarshal([]byte(body), &x); err != nil {
		t.Fatalf("exec inspect: %v\n%s", err, body)
	}
	return x
}

// execStartHijacked starts exec id attached, as the CLI does (Upgrade:
// tcp), and returns the connection and a reader positioned at the stream.
func (d *daemon) execStartHijacked(t *testing.T, id, body string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1.19/exec/%s/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: %d\r\n\r\n%s", id, len(body), body)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Content-Type") != "application/vnd.docker.raw-stream" {
		t.Fatalf("exec start answer: %d %v", resp.StatusCode, resp.Header)
	}
	return conn, br
}

// seqOutput is what `seq 1 n` prints.
func seqOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestExecCLI: docker exec, pinned to 1.19 and negotiated: output and
// exit status come back, stdin goes in (-i), output larger than a pipe
// arrives whole, and the process sees the container's filesystem,
// hostname, environment and working directory, not the host's.
func TestExecCLI(t *testing.T) {
	forEachExecDriverWithExec(t, func(t *testing.T, d *daemon, x *execDriver) {
		hostname := strings.TrimSpace(d.mustDocker("", nil, "inspect", "--format", "{{.Config.Hostname}}", "box"))
		big := seqOutput(150000) // about 1 MiB
		for _, m := range apiModes {
			t.Run(m.name, func(t *testing.T) {
				out, stderr, err := d.dockerSplit(m.version, nil, "exec", "box", "echo", "hi")
				if err != nil || out != "hi\n" || stderr != "" {
					t.Fatalf("docker exec box echo hi: %v, %q %q", err, out, stderr)
				}
				out, err = d.docker(m.version, nil, "exec", "box", "sh", "-c", "echo to-err >&2; exit 3")
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || out != "to-err\n" {
					t.Fatalf("docker exec sh -c 'exit 3': %v %q", err, out)
				}
				stdin := []byte("line one\nline two\x00\xff no newline")
				if out := d.mustDocker(m.version, stdin, "exec", "-i", "box", "cat"); out != string(stdin) {
					t.Fatalf("docker exec -i cat returned %q", out)
				}
				if out := d.mustDocker(m.version, nil, "exec", "box", "seq", "1", "150000"); out != big {
					t.Fatalf("docker exec seq: %d bytes, want %d", len(out), len(big))
				}
				out = d.mustDocker(m.version, nil, "exec", "box", "sh", "-c", "cat /marker; hostname; pwd; echo $PATH; test -e "+d.dir+" || echo no-host-dir")
				want := "inside\n" + hostname + "\n/\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nno-host-dir\n"
				if out != want {
					t.Fatalf("exec's view: %q, want %q", out, want)
				}
			})
		}
	})
}

// TestExecTTY: docker exec -t gives the process a terminal of its own;
// POST /exec/{id}/resize sets its size.
func TestExecTTY(t *testing.T) {
	forEachExecDriverWithExec(t, func(t *testing.T, d *daemon, x *execDriver) {
		if !x.has("Tty") {
			x.skip(t, "exec driver "+x.name+" does not declare capability Tty")
		}
		out := d.mustDocker("", nil, "exec", "-t", "box", "tty")
		if !regexp.MustCompile(`^/dev/pts/[0-9]+\r?\n$`).MatchString(out) {
			t.Fatalf("docker exec -t tty: %q", out)
		}

		id := d.execCreate(t, "box", `{"AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"Tty":true,"Cmd":["sh","-c","read x; stty size; exit 5"]}`)
		conn, br := d.execStartHijacked(t, id, `{"Detach":false,"Tty":true}`)
		if code, body, _ := d.raw("POST", "/v1.19/exec/"+id+"/resize?h=33&w=77", nil); code != 201 {
			t.Fatalf("exec resize: %d %s", code, body)
		}
		if _, err := conn.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, _ := io.ReadAll(br)
		if !strings.Contains(string(got), "33 77") {
			t.Fatalf("stty size after resize: %q", got)
		}
		if x := d.execInspect(t, id); x.Running || x.ExitCode != 5 || !x.ProcessConfig.Tty {
			t.Fatalf("exec after its end: %+v", x)
		}
	})
}

// TestExecDetachedInspect: docker exec -d returns at once; the process
// runs in the container (ps there sees it), is listed in the container's
// ExecIDs, and GET /exec/{id}/json shows Docker 1.7's raw record, Running
// and then the exit code. The events say exec_create and exec_start.
func TestExecDetachedInspect(t *testing.T) {
	forEachExecDriverWithExec(t, func(t *testing.T, d *daemon, x *execDriver) {
		d.mustDocker("", nil, "exec", "-d", "box", "sh", "-c", "sleep 1.5; exit 7")
		if ps := d.mustDocker("", nil, "exec", "box", "ps"); !strings.Contains(ps, "sleep 1.5") {
			t.Fatalf("ps in the container does not show the detached exec:\n%s", ps)
		}
		var insp struct {
			ID      string `json:"Id"`
			ExecIDs []string
		}
		_, body, _ := d.raw("GET", "/v1.19/containers/box/json", nil)
		if err := json.Unmarshal([]byte(body), &insp); err != nil {
			t.Fatal(err)
		}
		var id string
		for _, e := range insp.ExecIDs {
			if x := d.execInspect(t, e); x.ProcessConfig.Entrypoint == "sh" {
				id = e
			}
		}
		if id == "" {
			t.Fatalf("the detached exec is not among the container's ExecIDs %v", insp.ExecIDs)
		}
		ex := d.execInspect(t, id)
		if !ex.Running || ex.ID != id || ex.Container.ID != insp.ID || ex.Container.Name != "/box" || !ex.Container.State.Running ||
			ex.OpenStdout || ex.OpenStdin || ex.ProcessConfig.User != "" || ex.ProcessConfig.Privileged ||
			strings.Join(ex.ProcessConfig.Arguments, "|") != "-c|sleep 1.5; exit 7" {
			t.Fatalf("detached exec while it runs: %+v", ex)
		}
		_, raw, _ := d.raw("GET", "/v1.19/exec/"+id+"/json", nil)
		if !strings.HasPrefix(raw, `{"ID":"`+id+`","Running":true,"ExitCode":0,"ProcessConfig":{"privileged":false,"user":"","tty":false,"entrypoint":"sh","arguments":["-c","sleep 1.5; exit 7"]},"OpenStdin":false,"OpenStderr":false,"OpenStdout":false,"Container":{"State":{"Running":true,`) {
			t.Fatalf("exec inspect is not Docker 1.7's raw shape:\n%s", raw)
		}
		waitFor(t, 20*time.Second, func() bool { return !d.execInspect(t, id).Running })
		if ex := d.execInspect(t, id); ex.ExitCode != 7 {
			t.Fatalf("detached exec after its end: %+v", ex)
		}

		now := time.Now().Unix() + 1
		_, events, _ := d.raw("GET", fmt.Sprintf("/v1.19/events?since=1&until=%d", now), nil)
		for _, want := range []string{`"status":"exec_create: sh -c sleep 1.5; exit 7"`, `"status":"exec_start: sh -c sleep 1.5; exit 7"`, `"status":"exec_start: ps "`} {
			if !strings.Contains(events, want) || !strings.Contains(events, `"id":"`+insp.ID+`"`) {
				t.Fatalf("events lack %s:\n%s", want, events)
			}
		}
	})
}

// TestExecErrors: the codes and words for what cannot be exec'd.
func TestExecErrors(t *testing.T) {
	forEachExecDriverWithExec(t, func(t *testing.T, d *daemon, x *execDriver) {
		expect := func(method, path, body string, code int, words string) {
			t.Helper()
			got, resp, _ := d.raw(method, path, strings.NewReader(body))
			if got != code || !strings.Contains(resp, words) {
				t.Fatalf("%s %s %s: %d %q, want %d with %q", method, path, body, got, resp, code, words)
			}
		}
		expect("POST", "/v1.19/containers/nosuch/exec", `{"Cmd":["true"]}`, 404, "no such id: nosuch")
		expect("POST", "/v1.19/containers/box/exec", `{"Cmd":[]}`, 400, "No exec command specified")
		expect("POST", "/v1.19/containers/box/exec", `{"Cmd":`, 400, "invalid JSON")
		bad := d.execCreate(t, "box", `{"Cmd":["true"],"User":"no-such-user"}`)
		expect("POST", "/v1.19/exec/"+bad+"/start", `{"Detach":`, 400, "invalid JSON")
		expect("POST", "/v1.19/exec/"+bad+"/start", `{"Detach":true}`, 400, `no-such-user`)
		sized := d.execCreate(t, "box", `{"Cmd":["sleep","1000"],"Tty":true}`)
		expect("POST", "/v1.19/exec/"+sized+"/start", `{"Detach":true}`, 204, "")
		expect("POST", "/v1.19/exec/"+sized+"/resize?h=abc&w=1", "", 400, `invalid value for h`)
		expect("POST", "/v1.19/exec/"+sized+"/resize?h=70000&w=1", "", 400, `invalid terminal size`)
		for _, p := range []string{"/v1.19/exec/nosuch/start", "/v1.19/exec/nosuch/resize?h=1&w=1"} {
			expect("POST", p, `{"Detach":true}`, 404, "No such exec instance 'nosuch' found in daemon")
		}
		expect("GET", "/v1.19/exec/nosuch/json", "", 404, "No such exec instance 'nosuch' found in daemon")
		if out, err := d.docker("", nil, "exec", "nosuch", "true"); err == nil || !strings.Contains(out, "no such id: nosuch") {
			t.Fatalf("docker exec into an unknown container: %v %q", err, out)
		}

		// Served at every version, as Docker 1.7 served them (exec came
		// with v1.15, its inspect with v1.16).
		old := d.execCreate(t, "box", `{"Cmd":["true"]}`)
		expect("POST", "/v1.14/containers/box/exec", `{"Cmd":["true"]}`, 201, `"Id"`)
		expect("GET", "/v1.15/exec/"+old+"/json", "", 200, `"ID":"`+old+`"`)

		// A missing program: detached, the start answers 404 (Docker
		// 1.7's class for "not found"); attached, the CLI shows the
		// error and exits 255, the exec's ExitCode being -1 as in 1.7.
		id := d.execCreate(t, "box", `{"Cmd":["nosuch"]}`)
		expect("POST", "/v1.19/exec/"+id+"/start", `{"Detach":true}`, 404, `exec: "nosuch": executable file not found`)
		if ex := d.execInspect(t, id); ex.Running || ex.ExitCode != -1 {
			t.Fatalf("exec of a missing program: %+v", ex)
		}
		out, stderr, err := d.dockerSplit("", nil, "exec", "box", "nosuch")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 255 || out != "" || !strings.Contains(stderr, `exec: "nosuch": executable file not found`) {
			t.Fatalf("docker exec of a missing program: %v, stdout %q, stderr %q", err, out, stderr)
		}

		// A running exec cannot be started again; an ended one runs
		// again, as in Docker 1.7.
		id = d.execCreate(t, "box", `{"Cmd":["sleep","1000"]}`)
		expect("POST", "/v1.19/exec/"+id+"/start", `{"Detach":true}`, 204, "")
		expect("POST", "/v1.19/exec/"+id+"/start", `{"Detach":true}`, 409, "Error: Exec command "+id+" is already running")
		id = d.execCreate(t, "box", `{"Cmd":["sh","-c","exit 4"]}`)
		for range 2 {
			expect("POST", "/v1.19/exec/"+id+"/start", `{"Detach":true}`, 204, "")
			waitFor(t, 10*time.Second, func() bool { return !d.execInspect(t, id).Running })
			if ex := d.execInspect(t, id); ex.ExitCode != 4 {
				t.Fatalf("exit 4 exec: %+v", ex)
			}
		}

		if x.has("Pause") {
			d.mustDocker("", nil, "pause", "box")
			expect("POST", "/v1.19/containers/box/exec", `{"Cmd":["true"]}`, 409, "Container box is paused, unpause the container before exec")
			d.mustDocker("", nil, "unpause", "box")
		}

		// A stopped container: no exec, and its instances are gone
		// (Docker 1.7 forgot them when the container stopped).
		d.mustDocker("", nil, "kill", "box")
		d.mustDocker("", nil, "wait", "box")
		expect("POST", "/v1.19/containers/box/exec", `{"Cmd":["true"]}`, 409, "Container box is not running")
		if out, err := d.docker("", nil, "exec", "box", "true"); err == nil || !strings.Contains(out, "Container box is not running") {
			t.Fatalf("docker exec into a stopped container: %v %q", err, out)
		}
		expect("GET", "/v1.19/exec/"+id+"/json", "", 404, "No such exec instance")
		if ids := d.mustDocker("", nil, "inspect", "--format", "{{json .ExecIDs}}", "box"); strings.TrimSpace(ids) != "null" {
			t.Fatalf("ExecIDs of a stopped container: %s", ids)
		}
	})
}

// TestExecGoClient: the official Go client pinned to 1.19 creates,
// attaches to and inspects an exec; stdout and stderr arrive apart and
// whole (more than a pipe holds), the exit code through inspect.
func TestExecGoClient(t *testing.T) {
	forEachExecDriverWithExec(t, func(t *testing.T, d *daemon, x *execDriver) {
		c := d.goClient()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		created, err := c.ContainerExecCreate(ctx, "box", container.ExecOptions{
			AttachStdout: true, AttachStderr: true, AttachStdin: true,
			Cmd: []string{"sh", "-c", "cat > /in; seq 1 150000; echo err >&2; exit 9"},
		})
		if err != nil {
			t.Fatal(err)
		}
		hr, err := c.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer hr.Close()
		if _, err := hr.Conn.Write([]byte("given")); err != nil {
			t.Fatal(err)
		}
		hr.CloseWrite()
		var so, se bytes.Buffer
		if _, err := stdcopy.StdCopy(&so, &se, hr.Reader); err != nil {
			t.Fatal(err)
		}
		if so.String() != seqOutput(150000) || se.String() != "err\n" {
			t.Fatalf("exec output: %d bytes of stdout, stderr %q", so.Len(), se.String())
		}
		insp, err := c.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if insp.Running || insp.ExitCode != 9 || insp.ExecID != created.ID {
			t.Fatalf("exec inspect: %+v", insp)
		}
		if out := d.mustDocker("", nil, "exec", "box", "cat", "/in"); out != "given" {
			t.Fatalf("stdin reached the exec as %q", out)
		}
	})
}

// TestExecInteractiveTTY drives `docker exec -it` through a real terminal
// (tmux): the CLI sizes the exec's terminal to its own, input echoes, and
// the exit code comes back.
func TestExecInteractiveTTY(t *testing.T) {
	forEachExecDriverWithExec(t, func(t *testing.T, d *daemon, x *execDriver) {
		if !x.has("Tty") {
			x.skip(t, "exec driver "+x.name+" does not declare capability Tty")
		}
		p := newTmuxPane(t, d, 90, 25, "docker exec -it box sh; echo exec-exit-$?; sleep 30")
		p.waitScreen("/ #")
		p.send("echo round-trip-$((6*7)); stty size; cat /marker")
		p.waitScreen("round-trip-42")
		p.waitScreen("25 90")
		p.waitScreen("inside")
		p.send("exit 6")
		p.waitScreen("exec-exit-6")
	})
}

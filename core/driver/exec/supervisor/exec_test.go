package supervisor

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

func execOf(id string, args ...string) exec.ExecSpec {
	return exec.ExecSpec{ID: id, Process: exec.Process{Args: args, Env: []string{"PATH=/usr/bin:/bin"}}, Attached: true}
}

// running spawns a started "container" sleeping 100 s.
func running(t *testing.T) (*Handle, *Client) {
	t.Helper()
	h, c := spawn(t, Config{}, "/bin/sleep", "100")
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return h, c
}

func TestExecHeldOutputStatusAndInfo(t *testing.T) {
	_, c := running(t)
	ctx := ctxT(t)
	info, err := c.Exec(ctx, execOf("e1", "/bin/sh", "-c", "echo out; echo err >&2; exit 6"))
	if err != nil || info.ID != "e1" || info.Pid <= 0 {
		t.Fatalf("Exec = %+v, %v", info, err)
	}
	// The process ends long before anyone attaches; its output waits.
	time.Sleep(300 * time.Millisecond)
	a, err := c.AttachExec(ctx, "e1", AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	r := <-collect(a)
	if r.err != nil || string(r.stdout) != "out\n" || string(r.stderr) != "err\n" || r.exit.Code != 6 {
		t.Fatalf("attached late: %+v (stdout %q stderr %q)", r, r.stdout, r.stderr)
	}
	if st, _, err := c.WaitExec(ctx, "e1"); err != nil || st.Code != 6 {
		t.Errorf("WaitExec = %+v, %v", st, err)
	}
	info, err = c.ExecInfo(ctx, "e1")
	if err != nil || info.Running || info.Pid != 0 || info.Exit == nil || info.Exit.Code != 6 || info.FinishedAt.IsZero() {
		t.Errorf("ExecInfo after the end = %+v, %v", info, err)
	}
	// The container is not affected.
	if ci, err := c.Info(ctx); err != nil || ci.Status != exec.StatusRunning {
		t.Errorf("container after an exec: %+v, %v", ci, err)
	}
}

func TestExecRefusals(t *testing.T) {
	_, created := spawn(t, Config{}, "/bin/sleep", "100")
	ctx := ctxT(t)
	if _, err := created.Exec(ctx, execOf("e1", "/bin/true")); !errdefs.IsConflict(err) {
		t.Errorf("Exec in a created container = %v, want Conflict", err)
	}
	_, c := running(t)
	if _, err := c.Exec(ctx, execOf("e1", "/bin/sleep", "100")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, execOf("e1", "/bin/true")); !errdefs.IsConflict(err) {
		t.Errorf("Exec with a taken id = %v, want Conflict", err)
	}
	if _, err := c.Exec(ctx, execOf("e2", "no-such-program")); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Exec of a missing program = %v, want InvalidParameter", err)
	}
	if _, err := c.ExecInfo(ctx, "e2"); !errdefs.IsNotFound(err) {
		t.Errorf("a refused exec keeps its id: %v", err)
	}
	if _, err := c.Exec(ctx, execOf("", "/bin/true")); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Exec without an id = %v, want InvalidParameter", err)
	}
	if _, err := c.AttachExec(ctx, "nope", AttachOptions{Stdout: true}); !errdefs.IsNotFound(err) {
		t.Errorf("AttachExec of an unknown id = %v, want NotFound", err)
	}
	if err := c.ResizeExec(ctx, "nope", 1, 1); !errdefs.IsNotFound(err) {
		t.Errorf("ResizeExec of an unknown id = %v, want NotFound", err)
	}
}

// TestExecOutlivingTheContainerIsKilled: a process that does not end with
// the container (here: no pid namespace at all) is killed by the
// supervisor, and its client gets the status.
func TestExecOutlivingTheContainerIsKilled(t *testing.T) {
	_, c := running(t)
	ctx := ctxT(t)
	info, err := c.Exec(ctx, execOf("e1", "/bin/sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.AttachExec(ctx, "e1", AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	res := collect(a)
	if err := c.Signal(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r.err != nil || r.exit.Code != 128+int(syscall.SIGKILL) {
			t.Errorf("exec at the container's end: %+v", r)
		}
	case <-time.After(endExecGrace + 5*time.Second):
		t.Fatal("the exec's client was not told of its end")
	}
	waitGone(t, info.Pid)
}

func TestExecTerminalResize(t *testing.T) {
	_, c := running(t)
	ctx := ctxT(t)
	spec := execOf("e1", "/bin/sh", "-c", "stty size; read x; stty size")
	spec.Process.Terminal, spec.Process.OpenStdin, spec.Process.StdinOnce = true, true, true
	spec.Process.ConsoleWidth, spec.Process.ConsoleHeight = 100, 30
	if _, err := c.Exec(ctx, spec); err != nil {
		t.Fatal(err)
	}
	a, err := c.AttachExec(ctx, "e1", AttachOptions{Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := a.Stdout.Read(buf)
	if got := string(buf[:n]); got != "30 100\r\n" {
		t.Fatalf("initial size %q", got)
	}
	if err := c.ResizeExec(ctx, "e1", 132, 43); err != nil {
		t.Fatal(err)
	}
	a.Stdin.Write([]byte("\n"))
	r := <-collect(a)
	if !strings.HasSuffix(string(r.stdout), "43 132\r\n") || r.exit.Code != 0 {
		t.Fatalf("after resize: %q %+v", r.stdout, r)
	}
}

func TestExecRuntimeWithoutExecer(t *testing.T) {
	dir := stateDir(t)
	opts := spawnOptions(t, dir, Config{}, "/bin/sleep", "100")
	opts.Env[0] = modeEnv + "=" + modeSuperviseNoExec
	h, err := Spawn(ctxT(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killIdentity(h.Identity); syscall.Kill(h.InitPid, syscall.SIGKILL) })
	c, err := Dial(ctxT(t), h.Socket)
	if err != nil {
		t.Fatal(err)
	}
	c.Start(ctxT(t))
	if _, err := c.Exec(ctxT(t), execOf("e1", "/bin/true")); !errdefs.IsNotImplemented(err) {
		t.Errorf("Exec with a Runtime that cannot exec = %v, want NotImplemented", err)
	}
}

// TestExecOnOldSupervisor: a supervisor built before exec answers the
// exec ops as unknown; the client says NotImplemented.
func TestExecOnOldSupervisor(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "old")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := readLine(conn, 4096)
			if strings.Contains(string(line), `"op":"info"`) {
				conn.Write(marshalLine(response{Version: 1, Info: &Info{}}))
			} else {
				// What a v1.0-era supervisor answered any op it did not know.
				conn.Write(marshalLine(errorResponse(errdefs.InvalidParameter(errors.New(`supervisor protocol: unknown op "exec"`)))))
			}
			conn.Close()
		}
	}()
	c, err := Dial(ctxT(t), sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctxT(t), execOf("e1", "/bin/true")); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "predates exec") {
		t.Errorf("Exec on an old supervisor = %v, want NotImplemented", err)
	}
	if _, err := ExecIn(ctxT(t), exec.State{ID: "c", Status: exec.StatusRunning, Supervisor: sock}, execOf("e1", "/bin/true")); !errdefs.IsNotImplemented(err) {
		t.Errorf("ExecIn on an old supervisor = %v, want NotImplemented", err)
	}
	if _, err := ExecIn(context.Background(), exec.State{ID: "c", Status: exec.StatusPaused, Supervisor: sock}, execOf("e1", "/bin/true")); !errdefs.IsConflict(err) {
		t.Errorf("ExecIn on a paused container = %v, want Conflict", err)
	}
}

// TestExecExiterAdjustsTheStatus: a Runtime's ExecExited sees the reaped
// status and what it returns is recorded, for waiters and clients alike.
func TestExecExiterAdjustsTheStatus(t *testing.T) {
	_, c := running(t)
	ctx := ctxT(t)
	if _, err := c.Exec(ctx, execOf("plus100-e1", "/bin/sh", "-c", "exit 3")); err != nil {
		t.Fatal(err)
	}
	a, err := c.AttachExec(ctx, "plus100-e1", AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := <-collect(a); r.err != nil || r.exit.Code != 103 {
		t.Errorf("attached: %+v, want code 103", r)
	}
	if st, _, err := c.WaitExec(ctx, "plus100-e1"); err != nil || st.Code != 103 {
		t.Errorf("WaitExec = %+v, %v; want code 103", st, err)
	}
}

package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/jsonlog"
	"github.com/pluggd/pluggd/test/require"
)

func TestMain(m *testing.M) {
	if code, ok := testMainMode(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// stateDir returns a short fresh directory (socket paths are limited to
// 107 bytes, and t.TempDir embeds the test name).
func stateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "c")
}

func spawnOptions(t *testing.T, dir string, cfg Config, args ...string) SpawnOptions {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(args)
	if err := os.WriteFile(filepath.Join(dir, programFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg.ID == "" {
		cfg.ID = "c0ffee"
	}
	return SpawnOptions{
		Path:     os.Args[0],
		Env:      []string{modeEnv + "=" + modeSupervise, "PATH=" + os.Getenv("PATH")},
		StateDir: dir,
		Config:   cfg,
	}
}

// spawn starts a supervisor running args; the supervisor (and with it the
// init) is killed at cleanup if still there.
func spawn(t *testing.T, cfg Config, args ...string) (*Handle, *Client) {
	t.Helper()
	require.Root(t) // a child subreaper and TIOCSCTTY are all a user needs, but the suite runs as the daemon does
	dir := stateDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := Spawn(ctx, spawnOptions(t, dir, cfg, args...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killIdentity(h.Identity); syscall.Kill(h.InitPid, syscall.SIGKILL) })
	c, err := Dial(ctx, h.Socket)
	if err != nil {
		t.Fatal(err)
	}
	return h, c
}

// killIdentity kills the process only if it is still the one recorded.
func killIdentity(id Identity) {
	if id.Alive() {
		syscall.Kill(id.Pid, syscall.SIGKILL)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readLog(t *testing.T, path string) (stdout, stderr []byte) {
	t.Helper()
	err := jsonlog.Read(context.Background(), path, jsonlog.ReadOptions{Tail: jsonlog.TailAll}, func(r jsonlog.Record) error {
		if r.Stream == "stdout" {
			stdout = append(stdout, r.Line...)
		} else {
			stderr = append(stderr, r.Line...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr
}

type attachResult struct {
	stdout, stderr []byte
	exit           exec.ExitStatus
	err            error
}

// collect reads an attachment to its end.
func collect(a *Attachment) <-chan attachResult {
	ch := make(chan attachResult, 1)
	go func() {
		var r attachResult
		var outErr error
		done := make(chan struct{})
		go func() {
			if a.Stderr != nil {
				r.stderr, _ = io.ReadAll(a.Stderr)
			}
			close(done)
		}()
		if a.Stdout != nil {
			r.stdout, outErr = io.ReadAll(a.Stdout)
		}
		<-done
		r.exit, r.err = a.Exit()
		if r.err == nil {
			r.err = outErr
		}
		ch <- r
	}()
	return ch
}

func TestAttachBeforeStartSeesEverythingBinaryExact(t *testing.T) {
	var all bytes.Buffer
	for b := range 256 {
		all.WriteByte(byte(b))
	}
	dir, _ := os.MkdirTemp("", "bin")
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "bin")
	os.WriteFile(bin, all.Bytes(), 0o600)
	logPath := filepath.Join(dir, "log")

	_, c := spawn(t, Config{LogPath: logPath}, "/bin/sh", "-c", `echo first; cat "$0"; cat "$0" >&2; printf 'no newline' >&2`, bin)
	ctx := ctxT(t)
	a, err := c.Attach(ctx, AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	res := collect(a)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.exit.Code != 0 {
		t.Fatalf("exit %+v, %v", r.exit, r.err)
	}
	if want := append([]byte("first\n"), all.Bytes()...); !bytes.Equal(r.stdout, want) {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	if want := append(all.Bytes(), "no newline"...); !bytes.Equal(r.stderr, want) {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if _, _, err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	out, errOut := readLog(t, logPath)
	if !strings.HasPrefix(string(out), "first\n") || !strings.HasSuffix(string(errOut), "no newline\n") {
		t.Errorf("log stdout %q stderr %q", out, errOut)
	}
}

func TestFiftyMegabytesThroughAttachAndLog(t *testing.T) {
	dir, _ := os.MkdirTemp("", "big")
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Text (the log's JSON strings hold valid UTF-8 only), lines of varied
	// length, some longer than jsonlog.MaxLine.
	src := filepath.Join(dir, "src")
	f, _ := os.Create(src)
	h := sha256.New()
	w := io.MultiWriter(f, h)
	r := rand.New(rand.NewPCG(5, 6))
	line := make([]byte, 40<<10)
	for size := 0; size < 50<<20; {
		n := 1 + r.IntN(200)
		if r.IntN(500) == 0 {
			n = 20<<10 + r.IntN(20<<10)
		}
		for i := range n - 1 {
			line[i] = byte(' ' + r.IntN(95))
		}
		line[n-1] = '\n'
		w.Write(line[:n])
		size += n
	}
	f.Close()
	want := h.Sum(nil)
	logPath := filepath.Join(dir, "log")

	_, c := spawn(t, Config{LogPath: logPath}, "/bin/cat", src)
	ctx := ctxT(t)
	a, err := c.Attach(ctx, AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		io.Copy(h, a.Stdout)
		got <- h.Sum(nil)
	}()
	go io.Copy(io.Discard, a.Stderr)
	start := time.Now()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, _, err := c.Wait(ctx)
	if err != nil || st.Code != 0 {
		t.Fatalf("wait %+v %v", st, err)
	}
	t.Logf("50 MB through the supervisor (log + one attacher) in %v", time.Since(start))
	if sum := <-got; !bytes.Equal(sum, want) {
		t.Error("attached stdout differs from the source")
	}
	out, _ := readLog(t, logPath)
	if sum := sha256.Sum256(out); !bytes.Equal(sum[:], want) {
		t.Errorf("logged stdout (%d bytes) differs from the source", len(out))
	}
}

func TestStdinOnceRoundTrip(t *testing.T) {
	_, c := spawn(t, Config{OpenStdin: true, StdinOnce: true}, "/bin/cat")
	ctx := ctxT(t)
	a, err := c.Attach(ctx, AttachOptions{Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	res := collect(a)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("stdin round trip\x00\xff\n"), 100000) // 2 MB: back-pressure both ways
	go func() {
		a.Stdin.Write(data)
		a.Stdin.Close() // StdinOnce: cat sees EOF and exits
	}()
	r := <-res
	if r.err != nil || r.exit.Code != 0 {
		t.Fatalf("exit %+v %v", r.exit, r.err)
	}
	if !bytes.Equal(r.stdout, data) {
		t.Fatalf("stdout %d bytes, want %d", len(r.stdout), len(data))
	}
}

func TestStdinClientGoneClosesStdinOnce(t *testing.T) {
	_, c := spawn(t, Config{OpenStdin: true, StdinOnce: true}, "/bin/cat")
	ctx := ctxT(t)
	out, err := c.Attach(ctx, AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	res := collect(out)
	in, err := c.Attach(ctx, AttachOptions{Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(ctx)
	in.Stdin.Write([]byte("bye\n"))
	time.Sleep(50 * time.Millisecond)
	in.Close() // detaching without closing stdin counts too
	r := <-res
	if r.err != nil || string(r.stdout) != "bye\n" {
		t.Fatalf("stdout %q, %v", r.stdout, r.err)
	}
}

func TestTerminalEchoAndResize(t *testing.T) {
	_, c := spawn(t, Config{Terminal: true, OpenStdin: true, ConsoleWidth: 80, ConsoleHeight: 24},
		"/bin/sh", "-c", `stty size; read x; stty size; echo "got $x"; exit 7`)
	ctx := ctxT(t)
	a, err := c.Attach(ctx, AttachOptions{Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Stderr == nil {
		t.Fatal("Stderr nil though asked for")
	}
	go io.Copy(io.Discard, a.Stderr) // stays empty: a terminal is one stream
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(a.Stdout)
	expectLine := func(want string) {
		t.Helper()
		l, err := br.ReadString('\n')
		if err != nil || strings.TrimRight(l, "\r\n") != want {
			t.Fatalf("line %q (%v), want %q", l, err, want)
		}
	}
	expectLine("24 80")
	if err := c.Resize(ctx, 100, 50); err != nil {
		t.Fatal(err)
	}
	a.Stdin.Write([]byte("hello\n"))
	expectLine("hello") // the terminal's echo
	expectLine("50 100")
	expectLine("got hello")
	rest, _ := io.ReadAll(br)
	st, err := a.Exit()
	if err != nil || st.Code != 7 {
		t.Fatalf("exit %+v %v (rest %q)", st, err, rest)
	}
}

func TestResizeWithoutTerminalIsNoop(t *testing.T) {
	_, c := spawn(t, Config{}, "/bin/true")
	if err := c.Resize(ctxT(t), 10, 10); err != nil {
		t.Fatal(err)
	}
}

func TestExitCodesAndSignals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		signal syscall.Signal
		code   int
	}{
		{"exit3", []string{"/bin/sh", "-c", "exit 3"}, 0, 3},
		{"selfTERM", []string{"/bin/sh", "-c", "kill -TERM $$"}, 0, 128 + 15},
		{"clientKILL", []string{"/bin/sleep", "100"}, syscall.SIGKILL, 128 + 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, c := spawn(t, Config{}, tc.args...)
			ctx := ctxT(t)
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.signal != 0 {
				if err := c.Signal(ctx, tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			st, finished, err := c.Wait(ctx)
			if err != nil || st.Code != tc.code {
				t.Fatalf("wait %+v %v, want code %d", st, err, tc.code)
			}
			// Recorded and fsynced before the answer; Destroy ran too.
			var rec exitRecord
			if err := readJSON(h.StateDir, ExitFile, &rec); err != nil || rec.Code != tc.code || !rec.FinishedAt.Equal(finished) {
				t.Fatalf("exit.json %+v %v", rec, err)
			}
			if _, err := os.Stat(filepath.Join(h.StateDir, "destroyed")); err != nil {
				t.Errorf("waiters answered before Destroy: %v", err)
			}
			s, err := ReadState(h.StateDir)
			if err != nil || s.Status != exec.StatusStopped || s.Exit.Code != tc.code || s.Exit.Error != "" {
				t.Fatalf("ReadState %+v %v", s, err)
			}
			if err := c.Signal(ctx, syscall.SIGKILL); err == nil || !errdefs.IsConflict(err) && !errdefs.IsUnavailable(err) {
				t.Errorf("signal after exit: %v", err)
			}
		})
	}
}

func TestStartTwiceIsConflictAndStatesFollow(t *testing.T) {
	h, c := spawn(t, Config{ID: "abc"}, "/bin/sleep", "100")
	ctx := ctxT(t)
	s, err := ReadState(h.StateDir)
	if err != nil || s.Status != exec.StatusCreated || s.Supervisor != h.Socket || s.Pid != h.InitPid || s.ID != "abc" {
		t.Fatalf("after Spawn: %+v %v", s, err)
	}
	info, err := c.Info(ctx)
	if err != nil || info.Status != exec.StatusCreated || info.Pid != h.InitPid || info.SupervisorPid != h.Pid {
		t.Fatalf("info %+v %v", info, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); !errdefs.IsConflict(err) {
		t.Fatalf("second start: %v", err)
	}
	s, _ = ReadState(h.StateDir)
	if s.Status != exec.StatusRunning || s.StartedAt.IsZero() {
		t.Fatalf("after Start: %+v", s)
	}
	c.Signal(ctx, syscall.SIGTERM)
	c.Wait(ctx)
}

func TestCreatedContainerCanBeKilled(t *testing.T) {
	h, c := spawn(t, Config{}, "/bin/sleep", "100")
	ctx := ctxT(t)
	if err := c.Signal(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st, _, err := c.Wait(ctx)
	if err != nil || st.Code != 137 {
		t.Fatalf("%+v %v", st, err)
	}
	// The supervisor exits on its own, and the spawner reaps it: no zombie.
	waitGone(t, h.Pid)
}

// waitGone waits until pid no longer exists (reaped, not a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := processState(pid)
	t.Fatalf("process %d still there (state %c)", pid, st)
}

func TestSpawnMissingProgramIsInvalidParameterAndLeavesNothing(t *testing.T) {
	require.Root(t)
	dir := stateDir(t)
	opts := spawnOptions(t, dir, Config{}, "nosuchprogram")
	os.RemoveAll(dir) // let Spawn make it, so it must remove it
	os.MkdirAll(dir, 0o700)
	b, _ := json.Marshal([]string{"nosuchprogram"})
	os.WriteFile(filepath.Join(dir, programFile), b, 0o600)
	_, err := Spawn(ctxT(t), opts)
	if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), `"nosuchprogram": executable file not found`) {
		t.Fatalf("err %v", err)
	}
	for _, name := range []string{ConfigFile, IdentityFile, SocketFile, StatusFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s left behind", name)
		}
	}
}

func TestSupervisorKilledKillsContainerAndReadStateSaysSo(t *testing.T) {
	h, c := spawn(t, Config{ID: "deadbeef"}, "/bin/sleep", "1000")
	ctx := ctxT(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(h.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, h.Pid)
	// The init got SIGKILL as its parent died (it is reaped by whoever
	// inherits it; a zombie is dead too).
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := processState(h.InitPid)
		if err != nil || st == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("init %d still running (state %c)", h.InitPid, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, err := ReadState(h.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("supervisor of container deadbeef died (pid %d) before recording an exit status", h.Pid)
	if s.Status != exec.StatusStopped || s.Exit.Code != 137 || s.Exit.Error != want || s.Supervisor != "" {
		t.Fatalf("ReadState %+v", s)
	}
	if _, err := Dial(ctx, h.Socket); !errdefs.IsUnavailable(err) {
		t.Fatalf("dial a dead supervisor: %v", err)
	}
}

func TestSpawnerDeathDoesNotAffectSupervisor(t *testing.T) {
	require.Root(t)
	dir := stateDir(t)
	opts := spawnOptions(t, dir, Config{}, "/bin/sh", "-c", "echo survived")
	b, _ := json.Marshal(opts)
	cmd := osexec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), modeEnv+"="+modeSpawner, argsEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var h Handle
	if err := json.NewDecoder(out).Decode(&h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killIdentity(h.Identity) })
	cmd.Process.Kill()
	cmd.Wait()

	ctx := ctxT(t)
	c, err := Dial(ctx, h.Socket)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Attach(ctx, AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	res := collect(a)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r.err != nil || string(r.stdout) != "survived\n" {
		t.Fatalf("%q %v", r.stdout, r.err)
	}
	if s, err := ReadState(h.StateDir); err != nil || s.Status != exec.StatusStopped || s.Exit.Code != 0 {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestIdentityRejectsReusedPid(t *testing.T) {
	require.Root(t)
	dir := stateDir(t)
	os.MkdirAll(dir, 0o700)
	writeJSON(dir, ConfigFile, Config{ID: "x"})
	// Another live process holds the pid the record names.
	sleep := osexec.Command("/bin/sleep", "100")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	boot, _ := bootID()
	real, err := processStartTime(sleep.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		id    Identity
		alive bool
	}{
		{"same", Identity{Pid: sleep.Process.Pid, StartTime: real, BootID: boot}, true},
		{"reused pid", Identity{Pid: sleep.Process.Pid, StartTime: real - 1, BootID: boot}, false},
		{"other boot", Identity{Pid: sleep.Process.Pid, StartTime: real, BootID: "00000000-0000-0000-0000-000000000000"}, false},
	} {
		writeJSON(dir, IdentityFile, tc.id)
		s, err := ReadState(dir)
		if err != nil {
			t.Fatal(err)
		}
		if alive := s.Status != exec.StatusStopped; alive != tc.alive {
			t.Errorf("%s: state %+v", tc.name, s)
		}
	}
}

func TestProtocolVersionMismatch(t *testing.T) {
	_, c := spawn(t, Config{}, "/bin/true")
	// A newer client.
	conn, err := net.Dial("unix", c.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte(`{"version":2,"op":"info"}` + "\n"))
	line, _ := readLine(conn, 4096)
	var resp response
	json.Unmarshal(line, &resp)
	if !strings.Contains(resp.Error, "version 2") || !strings.Contains(resp.Error, "version 1") {
		t.Fatalf("answer %s", line)
	}

	// A newer supervisor.
	sock := filepath.Join(filepath.Dir(c.Socket()), "fake")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		readLine(conn, 4096)
		conn.Write([]byte(`{"version":2,"info":{}}` + "\n"))
	}()
	_, err = Dial(ctxT(t), sock)
	if err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("dial a v2 supervisor: %v", err)
	}
}

func TestWaitCancelledByContext(t *testing.T) {
	_, c := spawn(t, Config{}, "/bin/sleep", "100")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

func TestIdleSupervisorRSS(t *testing.T) {
	h, _ := spawn(t, Config{}, "/bin/sleep", "100")
	time.Sleep(300 * time.Millisecond)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") || strings.HasPrefix(l, "RssFile") {
			t.Log(strings.Join(strings.Fields(l), " "))
		}
	}
}

func TestAttachAfterExitGetsTheStatus(t *testing.T) {
	_, c := spawn(t, Config{}, "/bin/sh", "-c", "exit 5")
	ctx := ctxT(t)
	c.Start(ctx)
	if _, _, err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := c.Attach(ctx, AttachOptions{Stdout: true})
	if err != nil {
		t.Skipf("supervisor already gone: %v", err) // past its 200 ms linger
	}
	r := <-collect(a)
	if r.err != nil || r.exit.Code != 5 || len(r.stdout) != 0 {
		t.Fatalf("%+v", r)
	}
}

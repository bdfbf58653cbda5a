package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	execdriver "github.com/pluggd/pluggd/core/driver/exec"
	execplugin "github.com/pluggd/pluggd/core/driver/exec/plugin"
	"github.com/pluggd/pluggd/core/driver/exec/plugin/plugintest"
	execv1 "github.com/pluggd/pluggd/core/driver/exec/plugin/proto"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/grpc"
)

// serveExecRole is TestMain's part for the exec plugin roles.
func serveExecRole(role string) {
	switch role {
	case "exec-fake":
		execplugin.Serve(plugintest.New)
	case "exec-v2":
		// An exec plugin built against contract v2: go-plugin's
		// handshake refuses it.
		pluginrpc.ServePlugin(pluginrpc.ServeConfig{
			Kind:  pluginrpc.KindExec,
			Major: 2,
			Plugins: func(log *slog.Logger, _ *pluginrpc.FDReceiver) map[int]plugin.PluginSet {
				return map[int]plugin.PluginSet{2: {pluginrpc.KindExec: &execplugin.GRPCPlugin{Factory: plugintest.New, Log: log}}}
			},
		})
	case "exec-v1.0":
		// An exec plugin built against contract v1.0, before Exec: same
		// major, an older minor.
		pluginrpc.ServePlugin(pluginrpc.ServeConfig{
			Kind:  pluginrpc.KindExec,
			Major: execdriver.ProtocolMajor,
			Plugins: func(log *slog.Logger, _ *pluginrpc.FDReceiver) map[int]plugin.PluginSet {
				return map[int]plugin.PluginSet{execdriver.ProtocolMajor: {pluginrpc.KindExec: &v10Plugin{log: log}}}
			},
		})
	case "exec-daemon":
		fakeExecDaemon()
	}
}

// v10Plugin serves the fake driver but announces contract v1.0.
type v10Plugin struct {
	execplugin.GRPCPlugin
	log *slog.Logger
}

func (p *v10Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	execv1.RegisterExecServer(s, execplugin.NewServer(plugintest.New))
	pluginrpc.RegisterNegotiation(s, pluginrpc.Announcement{Kind: pluginrpc.KindExec, Version: pluginrpc.Version{Major: execdriver.ProtocolMajor, Minor: 0}}, p.log)
	return nil
}

// fakeExecDaemon starts the fake exec plugin through a Host, runs a
// container, prints "<plugin pid> <container pid>" and waits to be killed.
func fakeExecDaemon() {
	h := NewHost(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	os.Setenv(roleEnv, "exec-fake")
	ctx := context.Background()
	e, err := h.StartExec(ctx, ExecConfig{Name: "fake", Binary: os.Args[0], Root: filepath.Join(os.Getenv("PLUGGD_TEST_DIR"), "exec")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	st, err := runContainer(ctx, e, "c1")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(e.Pid(), st.Pid)
	select {}
}

func runContainer(ctx context.Context, d execdriver.Driver, id string) (execdriver.State, error) {
	if _, err := d.Create(ctx, execdriver.ContainerSpec{ID: id, Process: execdriver.Process{Args: []string{"sleep", "1000"}}}); err != nil {
		return execdriver.State{}, err
	}
	return d.Start(ctx, id)
}

func (h testHost) startExec(t *testing.T, role, bin string) (*Exec, error) {
	t.Helper()
	t.Setenv(roleEnv, role)
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.StartExec(ctx, ExecConfig{Name: "fake-" + role, Binary: bin, Root: filepath.Join(t.TempDir(), "exec")})
}

// runTestContainer runs a container and kills its process at the end of
// the test, whatever became of the plugin that started it.
func runTestContainer(t *testing.T, e *Exec, id string) execdriver.State {
	t.Helper()
	st, err := runContainer(context.Background(), e, id)
	if err != nil {
		t.Fatalf("running container %s: %v", id, err)
	}
	if st.Pid <= 0 {
		t.Fatalf("Start returned pid %d", st.Pid)
	}
	t.Cleanup(func() { syscall.Kill(st.Pid, syscall.SIGKILL) })
	return st
}

func TestExecStartCallAndShutdownKeepsContainers(t *testing.T) {
	h := newTestHost(t)
	e, err := h.startExec(t, "exec-fake", "")
	if err != nil {
		t.Fatalf("StartExec: %v", err)
	}
	ctx := context.Background()
	if info, _ := e.Info(ctx); info.Name != plugintest.Name || !info.Capabilities.Pause {
		t.Fatalf("Info = %+v", info)
	}
	st := runTestContainer(t, e, "c1")
	if got, err := e.State(ctx, "c1"); err != nil || got.Status != execdriver.StatusRunning || got.Pid != st.Pid {
		t.Fatalf("State = %+v, %v", got, err)
	}
	if _, err := e.State(ctx, "nosuch"); !errdefs.IsNotFound(err) {
		t.Fatalf("State of an unknown id = %v, want not found", err)
	}
	if fi, err := os.Stat(e.cfg.Root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("root: %v, %v", fi.Mode(), err)
	}

	pluginPid := e.Pid()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if alive(pluginPid) {
		t.Fatal("plugin still alive after Shutdown")
	}
	if !alive(st.Pid) {
		t.Fatal("Shutdown of the host killed a container")
	}
	if _, err := e.State(ctx, "c1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("State after Shutdown = %v, want unavailable", err)
	}
}

func TestExecRelaunchAfterKillRestores(t *testing.T) {
	h := newTestHost(t)
	e, err := h.startExec(t, "exec-fake", "")
	if err != nil {
		t.Fatalf("StartExec: %v", err)
	}
	ctx := context.Background()
	st := runTestContainer(t, e, "c1")

	old := e.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a relaunched plugin", func() bool { p := e.Pid(); return p != 0 && p != old })
	waitFor(t, 10*time.Second, "Restore after the relaunch", func() bool {
		return h.logs.find("Restore after relaunch", "containers=1", "running=1", "plugin=fake-exec-fake") != ""
	})
	if h.logs.find("exec plugin exited", "plugin=fake-exec-fake") == "" || h.logs.find("exec plugin relaunched", "plugin=fake-exec-fake") == "" {
		t.Errorf("exit and relaunch not logged: %q", h.logs.records)
	}
	if !alive(st.Pid) {
		t.Fatal("killing the exec plugin killed its container")
	}
	got, err := e.State(ctx, "c1")
	if err != nil || got.Status != execdriver.StatusRunning || got.Pid != st.Pid {
		t.Fatalf("State after relaunch = %+v, %v", got, err)
	}
	if err := e.Signal(ctx, "c1", syscall.SIGKILL); err != nil {
		t.Fatalf("Signal after relaunch: %v", err)
	}
	waitFor(t, 5*time.Second, "the container to die", func() bool { return !alive(st.Pid) })

	// A read-only call made right after a kill, before the host saw the
	// exit, is retried on the relaunched process.
	old = e.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got, err := e.State(ctx, "c1"); err != nil || got.Status != execdriver.StatusStopped {
		t.Fatalf("State right after a kill = %+v, %v", got, err)
	}
	if states, err := e.Restore(ctx); err != nil || len(states) != 1 {
		t.Fatalf("Restore = %+v, %v", states, err)
	}
}

func TestExecDownIsUnavailable(t *testing.T) {
	h := newTestHost(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "plugin")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := h.startExec(t, "exec-fake", bin)
	if err != nil {
		t.Fatal(err)
	}
	// No relaunch can succeed now.
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(e.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for op, call := range map[string]func() error{
		"Create": func() error {
			_, err := e.Create(ctx, execdriver.ContainerSpec{ID: "x", Process: execdriver.Process{Args: []string{"true"}}})
			return err
		},
		"State": func() error { _, err := e.State(ctx, "x"); return err },
		"Stats": func() error { _, err := e.Stats(ctx, "x"); return err },
	} {
		start := time.Now()
		err := call()
		if !errors.Is(err, ErrUnavailable) || !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), `exec driver "fake-exec-fake" unavailable (`+op+")") {
			t.Fatalf("%s with the plugin down = %v, want an Unavailable error naming the plugin and the call", op, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s took %v", op, d)
		}
	}
	// Info is cached: still answered.
	if info, err := e.Info(ctx); err != nil || info.Name != plugintest.Name {
		t.Fatalf("Info with the plugin down = %+v, %v", info, err)
	}
}

func TestExecVersionRefused(t *testing.T) {
	h := newTestHost(t)
	bin, _ := os.Executable()
	_, err := h.startExec(t, "exec-v2", "")
	want := fmt.Sprintf("exec plugin %q speaks contract v2, this daemon speaks v%d", bin, execdriver.ProtocolMajor)
	if err == nil || !strings.Contains(err.Error(), want) || !errdefs.IsNotImplemented(err) {
		t.Fatalf("StartExec = %v, want a NotImplemented error containing %q", err, want)
	}
	assertNoChildren(t)
}

// TestExecOlderMinorStillRuns: a plugin built against v1.0 runs its
// containers under this daemon; exec, which v1.0 lacks, is refused with
// both versions named and without a call.
func TestExecOlderMinorStillRuns(t *testing.T) {
	h := newTestHost(t)
	bin, _ := os.Executable()
	e, err := h.startExec(t, "exec-v1.0", "")
	if err != nil {
		t.Fatalf("a v1.0 exec plugin must be accepted: %v", err)
	}
	st := runTestContainer(t, e, "c1")
	if info, _ := e.Info(context.Background()); info.Capabilities.Exec {
		t.Errorf("a v1.0 plugin reports Capabilities.Exec")
	}
	_, err = e.Exec(context.Background(), "c1", execdriver.ExecSpec{ID: "x1", Process: execdriver.Process{Args: []string{"true"}}})
	want := fmt.Sprintf("exec plugin %q speaks contract v1.0, which has no Exec: it needs v1.1", bin)
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("Exec on a v1.0 plugin = %v, want NotImplemented %q", err, want)
	}
	if got, err := e.State(context.Background(), "c1"); err != nil || got.Status != execdriver.StatusRunning || got.Pid != st.Pid {
		t.Errorf("the container after the refused exec: %+v, %v", got, err)
	}
}

func TestDaemonKilledLeavesContainers(t *testing.T) {
	daemon, line := startFakeDaemon(t, "exec-daemon")
	pluginPid, containerPid := 0, 0
	if f := strings.Fields(line); len(f) == 2 {
		pluginPid, _ = strconv.Atoi(f[0])
		containerPid, _ = strconv.Atoi(f[1])
	}
	t.Cleanup(func() {
		for _, pid := range []int{pluginPid, containerPid} {
			if pid > 0 && alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if pluginPid <= 0 || containerPid <= 0 || !alive(pluginPid) || !alive(containerPid) {
		t.Fatalf("fake daemon printed %q", line)
	}
	killFakeDaemon(t, daemon, pluginPid)
	// Give a parent-death signal or a group kill time to land.
	time.Sleep(300 * time.Millisecond)
	if !alive(containerPid) {
		t.Fatal("the container died with its exec plugin")
	}
}

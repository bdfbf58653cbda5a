package plugin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/plugin/plugintest"
	execv1 "github.com/pluggd/pluggd/core/driver/exec/plugin/proto"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/grpc"
)

// recording wraps the fake driver, keeps the spec Create received and
// lets a test script errors.
type recording struct {
	exec.Driver
	spec    exec.ContainerSpec
	failErr error // returned by every method but Info when set
}

func (r *recording) Create(ctx context.Context, spec exec.ContainerSpec) (exec.State, error) {
	r.spec = spec
	if r.failErr != nil {
		return exec.State{}, r.failErr
	}
	return r.Driver.Create(ctx, spec)
}

func (r *recording) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	if r.failErr != nil {
		return r.failErr
	}
	return r.Driver.Signal(ctx, id, sig)
}

func inProcess(t *testing.T) (*Client, *recording) {
	t.Helper()
	rec := &recording{}
	factory := func(ctx context.Context, opts exec.InitOptions) (exec.Driver, error) {
		d, err := plugintest.New(ctx, opts)
		if err != nil {
			return nil, err
		}
		rec.Driver = d
		return rec, nil
	}
	c, err := NewInProcess(context.Background(), factory, exec.InitOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

// fullSpec sets every field, so that one dropped by the conversions shows.
func fullSpec(id string, args ...string) exec.ContainerSpec {
	return exec.ContainerSpec{
		ID:             id,
		Rootfs:         "/var/lib/pluggd/overlay/" + id + "/merged",
		ReadonlyRootfs: true,
		Hostname:       "box",
		Domainname:     "example.org",
		Process: exec.Process{
			Args: args, Env: []string{"PATH=/usr/bin:/bin", "A=b"}, Cwd: "/",
			User: "nobody:nogroup", Terminal: true, OpenStdin: true, StdinOnce: true,
			ConsoleWidth: 80, ConsoleHeight: 24,
		},
		SharedNamespaces: map[string]string{"net": "host", "ipc": "/proc/1/ns/ipc"},
		Mounts:           []exec.Mount{{Source: "/tmp", Destination: "/data", Type: "bind", Options: []string{"rbind", "ro"}}},
		Devices:          []exec.Device{{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", Permissions: "rwm"}},
		CapAdd:           []string{"NET_ADMIN"},
		CapDrop:          []string{"MKNOD", "chown"},
		Privileged:       true,
		Resources: exec.Resources{
			Memory: 1 << 30, MemorySwap: 2 << 30, CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000,
			CpusetCpus: "0-1", CpusetMems: "0", BlkioWeight: 300, OomKillDisable: true,
			Rlimits: []exec.Rlimit{{Type: "nofile", Hard: 1024, Soft: 512}},
		},
		CgroupParent: "docker",
		LxcConf:      [][2]string{{"lxc.aa_profile", "unconfined"}, {"lxc.cap.drop", "sys_admin"}},
		LogPath:      "/var/lib/pluggd/containers/" + id + "/" + id + "-json.log",
	}
}

func waitState(t *testing.T, c *Client, id string, want exec.Status) exec.State {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := c.State(context.Background(), id)
		if err != nil {
			t.Fatalf("State: %v", err)
		}
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s, want %s", id, st.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRoundTripEveryMethod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, rec := inProcess(t)

	info, err := c.Info(ctx)
	if err != nil || info.Name != plugintest.Name || !info.Capabilities.Pause || !info.Capabilities.Stats || info.Capabilities.Tty {
		t.Fatalf("Info = %+v, %v", info, err)
	}

	spec := fullSpec("c1", "sleep", "100")
	st, err := c.Create(ctx, spec)
	if err != nil || st.ID != "c1" || st.Status != exec.StatusCreated {
		t.Fatalf("Create = %+v, %v", st, err)
	}
	if !reflect.DeepEqual(rec.spec, spec) {
		t.Errorf("spec through the wire:\n got %+v\nwant %+v", rec.spec, spec)
	}

	before := time.Now()
	st, err = c.Start(ctx, "c1")
	if err != nil || st.Status != exec.StatusRunning || st.Pid <= 0 || st.StartedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("Start = %+v, %v", st, err)
	}
	pid := st.Pid
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	got, err := c.State(ctx, "c1")
	if err != nil || got.Pid != pid || !got.StartedAt.Equal(st.StartedAt) || !got.FinishedAt.IsZero() {
		t.Fatalf("State = %+v, %v; Start said %+v", got, err, st)
	}

	// Right after Start the child may still be inside execve, where its
	// resident set reads as 0; the fake reads /proc, so poll briefly.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stats, err := c.Stats(ctx, "c1")
		if err == nil && stats.Pids == 1 && stats.MemoryUsage > 0 && !stats.Read.IsZero() {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Stats = %+v, %v", stats, err)
		}
	}

	if err := c.Pause(ctx, "c1"); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	waitState(t, c, "c1", exec.StatusPaused)
	if err := c.Resume(ctx, "c1"); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	waitState(t, c, "c1", exec.StatusRunning)

	states, err := c.Restore(ctx)
	if err != nil || len(states) != 1 || states[0].ID != "c1" || states[0].Status != exec.StatusRunning {
		t.Fatalf("Restore = %+v, %v", states, err)
	}

	if err := c.Signal(ctx, "c1", syscall.SIGTERM); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	st = waitState(t, c, "c1", exec.StatusStopped)
	if st.Exit.Code != 128+int(syscall.SIGTERM) || st.FinishedAt.IsZero() || st.Pid != 0 {
		t.Fatalf("after SIGTERM: %+v", st)
	}

	if err := c.Delete(ctx, "c1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.State(ctx, "c1"); !errdefs.IsNotFound(err) {
		t.Fatalf("State after Delete = %v, want not found", err)
	}
}

func TestErrorClassesSurvive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, rec := inProcess(t)

	check := func(what string, err error, is func(error) bool, substr string) {
		t.Helper()
		if err == nil || !is(err) || !strings.Contains(err.Error(), substr) {
			t.Errorf("%s: %v (class %v), want class and message %q", what, err, errdefs.ClassOf(err), substr)
		}
	}
	for name, call := range map[string]func() error{
		"Start":  func() error { _, err := c.Start(ctx, "nosuch"); return err },
		"Signal": func() error { return c.Signal(ctx, "nosuch", syscall.SIGKILL) },
		"State":  func() error { _, err := c.State(ctx, "nosuch"); return err },
		"Delete": func() error { return c.Delete(ctx, "nosuch") },
		"Pause":  func() error { return c.Pause(ctx, "nosuch") },
		"Resume": func() error { return c.Resume(ctx, "nosuch") },
		"Stats":  func() error { _, err := c.Stats(ctx, "nosuch"); return err },
	} {
		check(name, call(), errdefs.IsNotFound, "no such container: nosuch")
	}

	_, err := c.Create(ctx, fullSpec("bad", "nosuch-program"))
	check("Create of a missing program", err, errdefs.IsInvalidParameter, `"nosuch-program": executable file not found`)

	if _, err := c.Create(ctx, fullSpec("c2", "true")); err != nil {
		t.Fatal(err)
	}
	err = c.Signal(ctx, "c2", syscall.SIGKILL)
	check("Signal of a created container", err, errdefs.IsConflict, "is created, not running")
	_, err = c.Create(ctx, fullSpec("c2", "true"))
	check("Create twice", err, errdefs.IsConflict, "already exists")

	// Every class, through a driver that returns it.
	for _, class := range []errdefs.Class{errdefs.NotImplementedClass, errdefs.UnavailableClass, errdefs.ForbiddenClass, errdefs.SystemClass} {
		rec.failErr = errdefs.Wrap(class, fmt.Errorf("scripted %v", class))
		err := c.Signal(ctx, "c2", syscall.SIGTERM)
		if errdefs.ClassOf(err) != class || !strings.Contains(err.Error(), fmt.Sprintf("scripted %v", class)) {
			t.Errorf("scripted %v: got %v (class %v)", class, err, errdefs.ClassOf(err))
		}
	}
	rec.failErr = nil
}

func TestInitErrorKeepsItsClass(t *testing.T) {
	t.Parallel()
	_, err := NewInProcess(context.Background(), plugintest.New, exec.InitOptions{Root: t.TempDir(), Options: []string{"bogus=1"}})
	if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), `unknown option "bogus=1"`) {
		t.Fatalf("NewInProcess with a bad option = %v (class %v)", err, errdefs.ClassOf(err))
	}
}

func TestCallBeforeInitRefused(t *testing.T) {
	t.Parallel()
	cc, stop, err := pluginrpc.InProcess("exec-test", func(s *grpc.Server) { Register(s, plugintest.New, nil) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := NewClient(cc).State(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "not initialised") {
		t.Fatalf("State before Init = %v", err)
	}
}

// announcing serves the exec service but announces another kind or
// version in the negotiation.
func announcing(t *testing.T, a pluginrpc.Announcement) *Client {
	t.Helper()
	cc, stop, err := pluginrpc.InProcess("exec-test", func(s *grpc.Server) {
		execv1.RegisterExecServer(s, NewServer(plugintest.New))
		pluginrpc.RegisterNegotiation(s, a, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop() })
	return NewClient(cc)
}

func TestVersionRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, v := range []pluginrpc.Version{{Major: exec.ProtocolMajor + 1, Minor: 0}, {Major: 0, Minor: 9}} {
		_, err := announcing(t, pluginrpc.Announcement{Kind: pluginrpc.KindExec, Version: v}).Negotiate(ctx, "/usr/lib/pluggd/exec-test")
		want := fmt.Sprintf(`exec plugin "/usr/lib/pluggd/exec-test" speaks contract %s, this daemon speaks %s`, v, Version())
		var ve *pluginrpc.VersionError
		if !errors.As(err, &ve) || !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("plugin at %s: Negotiate = %v, want %q", v, err, want)
		}
	}
	_, err := announcing(t, pluginrpc.Announcement{Kind: pluginrpc.KindStorage, Version: Version()}).Negotiate(ctx, "overlay")
	if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "is a storage plugin, not a exec plugin") {
		t.Errorf("storage plugin as exec: Negotiate = %v", err)
	}
	v, err := announcing(t, pluginrpc.Announcement{Kind: pluginrpc.KindExec, Version: pluginrpc.Version{Major: exec.ProtocolMajor, Minor: exec.ProtocolMinor + 3}}).Negotiate(ctx, "newer")
	if err != nil || v.Minor != exec.ProtocolMinor+3 {
		t.Errorf("a newer minor must be accepted: %v, %v", v, err)
	}
}

func TestTimesAndStatusConvert(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, s := range []exec.State{
		{},
		{ID: "x", Status: exec.StatusStopped, StartedAt: now, FinishedAt: now.Add(time.Second), Exit: exec.ExitStatus{Code: 137, OOMKilled: true, Error: "supervisor died"}, Supervisor: "/run/x.sock", SupervisorPid: 42},
	} {
		got := stateFromProto(stateToProto(s))
		if got.ID != s.ID || got.Status != s.Status || !got.StartedAt.Equal(s.StartedAt) || !got.FinishedAt.Equal(s.FinishedAt) ||
			got.Exit != s.Exit || got.Supervisor != s.Supervisor || got.SupervisorPid != s.SupervisorPid || got.StartedAt.IsZero() != s.StartedAt.IsZero() {
			t.Errorf("state %+v came back as %+v", s, got)
		}
	}
}

// execRecording is a driver with exec: it keeps what Exec received.
type execRecording struct {
	exec.Driver
	id   string
	spec exec.ExecSpec
}

func (r *execRecording) Exec(ctx context.Context, id string, spec exec.ExecSpec) (exec.ExecState, error) {
	r.id, r.spec = id, spec
	return exec.ExecState{ID: spec.ID, Pid: 4242, Supervisor: "/run/pluggd/x/sock"}, nil
}

func TestExecRoundTrip(t *testing.T) {
	t.Parallel()
	rec := &execRecording{}
	factory := func(ctx context.Context, opts exec.InitOptions) (exec.Driver, error) {
		d, err := plugintest.New(ctx, opts)
		rec.Driver = d
		return rec, err
	}
	c, err := NewInProcess(context.Background(), factory, exec.InitOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	spec := exec.ExecSpec{ID: "e1", Process: fullSpec("c1", "sh", "-c", "true").Process, Privileged: true, Attached: true}
	st, err := c.Exec(context.Background(), "c1", spec)
	if err != nil {
		t.Fatal(err)
	}
	if rec.id != "c1" || !reflect.DeepEqual(rec.spec, spec) {
		t.Errorf("the driver received %q %+v, want c1 %+v", rec.id, rec.spec, spec)
	}
	if st != (exec.ExecState{ID: "e1", Pid: 4242, Supervisor: "/run/pluggd/x/sock"}) {
		t.Errorf("ExecState came back as %+v", st)
	}
}

// TestExecWithoutExecer: a driver built on the v1.1 SDK that does not
// implement exec.Execer answers Exec as not implemented.
func TestExecWithoutExecer(t *testing.T) {
	t.Parallel()
	c, _ := inProcess(t)
	_, err := c.Exec(context.Background(), "c1", exec.ExecSpec{ID: "e1", Process: exec.Process{Args: []string{"true"}}})
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "does not implement exec") {
		t.Fatalf("Exec on a driver without Execer = %v (class %v)", err, errdefs.ClassOf(err))
	}
}

// v10Server is what a plugin built against contract v1.0 serves: the v1.0
// methods only (the generated code's Unimplemented answers the rest).
type v10Server struct{ execv1.UnimplementedExecServer }

// TestExecOnV10Plugin: after negotiating v1.0, Exec is refused without a
// call, naming both versions; without the negotiation the v1.0 plugin's
// own answer is the same class.
func TestExecOnV10Plugin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cc, stop, err := pluginrpc.InProcess("exec-v1.0", func(s *grpc.Server) {
		execv1.RegisterExecServer(s, v10Server{})
		pluginrpc.RegisterNegotiation(s, pluginrpc.Announcement{Kind: pluginrpc.KindExec, Version: pluginrpc.Version{Major: 1, Minor: 0}}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	raw := NewClient(cc)
	if _, err := raw.Exec(ctx, "c1", exec.ExecSpec{ID: "e1"}); !errdefs.IsNotImplemented(err) {
		t.Errorf("Exec on a v1.0 plugin without negotiation = %v (class %v), want NotImplemented", err, errdefs.ClassOf(err))
	}
	c := NewClient(cc)
	if _, err := c.Negotiate(ctx, "/usr/lib/pluggd/exec-old"); err != nil {
		t.Fatalf("a v1.0 plugin must still be accepted: %v", err)
	}
	_, err = c.Exec(ctx, "c1", exec.ExecSpec{ID: "e1"})
	want := `exec plugin "/usr/lib/pluggd/exec-old" speaks contract v1.0, which has no Exec: it needs v1.1`
	if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("Exec after negotiating v1.0 = %v, want NotImplemented %q", err, want)
	}
}

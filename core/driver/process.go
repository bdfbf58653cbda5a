package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// startTimeout bounds go-plugin's handshake: how long a plugin may take to
// print its address.
const startTimeout = 20 * time.Second

// process is one running plugin process and its go-plugin connection.
type process struct {
	client *plugin.Client
	conn   *grpc.ClientConn
	raw    any // what Dispense returned
	pid    int
	// fds is the descriptor side channel (pluginrpc.FDSender) the
	// process was started with, for tar streams through pipes; nil when
	// its kind does not use one.
	fds *pluginrpc.FDSender
	// exited is closed when the process has exited (seen through a
	// pidfd, which does not depend on go-plugin reaping it or on its
	// stdout and stderr pipes being closed).
	exited chan struct{}
	stop   chan struct{} // closed to end the exit watcher early
}

// launchSpec is what startProcess needs to know about a plugin.
type launchSpec struct {
	kind, name, binary string
	major              int
	plugins            map[int]plugin.PluginSet
	log                *slog.Logger
	// fdChannel offers the plugin the descriptor side channel as its fd
	// 3. Only kinds that use it ask: every descriptor a plugin inherits
	// is one its own children may inherit too.
	fdChannel bool
}

func logLevelName(l *slog.Logger) string {
	for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if l.Enabled(context.Background(), lv) {
			return lv.String()
		}
	}
	return slog.LevelError.String()
}

// startProcess starts the plugin binary, does go-plugin's handshake and
// dispenses the plugin of the spec's kind. On error no process is left.
func (h *Host) startProcess(ctx context.Context, spec launchSpec) (*process, error) {
	cmd := exec.Command(spec.binary)
	cmd.Env = append(os.Environ(),
		pluginrpc.ParentPIDEnv+"="+strconv.Itoa(os.Getpid()),
		pluginrpc.LogLevelEnv+"="+logLevelName(spec.log))
	// The descriptor side channel: the plugin's end becomes its fd 3
	// (the first of ExtraFiles).
	var fds *pluginrpc.FDSender
	var fdPeer *os.File
	if spec.fdChannel {
		var err error
		fds, fdPeer, err = pluginrpc.NewFDChannel()
		if err != nil {
			return nil, err
		}
		cmd.Env = append(cmd.Env, pluginrpc.FDChannelEnv+"=3")
		cmd.ExtraFiles = []*os.File{fdPeer}
	}
	closeFDs := func() {
		if fds != nil {
			fds.Close()
		}
	}
	// Belt and braces with the plugin's own prctl and parent watchdog:
	// the plugin gets SIGKILL as soon as the spawner thread dies, which
	// covers a plugin too wedged to run its watchdog. The kernel clears a
	// parent-death signal in the children of a fork (prctl(2)), so this
	// reaches the plugin only, never the container supervisors an exec
	// plugin starts. No Setpgid or Setsid either way: the plugin stays in
	// the daemon's process group, and the host signals it by pid only.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderrLog := spec.log.With("stream", "stderr")
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginrpc.Handshake(spec.major),
		VersionedPlugins: spec.plugins,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  pluginrpc.DialOptions(),
		StartTimeout:     startTimeout,
		// go-plugin parses the plugin's stderr (JSON lines from
		// pluginrpc.NewPluginLogger, or raw text) into this logger.
		Logger: pluginrpc.HCLogger(spec.log),
		// SyncStdout stays nil: go-plugin then discards what the plugin
		// writes to os.Stdout after the handshake; the daemon's stdout
		// must never carry plugin output. Writes to os.Stderr after the
		// handshake travel over go-plugin's stdio stream and are logged.
		SyncStderr: &pluginrpc.LineWriter{Log: func(line string) { stderrLog.Info(line) }},
	})
	var startErr error
	err := h.onSpawnThread(ctx, func() { _, startErr = client.Start() })
	if fdPeer != nil {
		// The child has its copy (or there is no child).
		fdPeer.Close()
	}
	if err != nil {
		client.Kill()
		closeFDs()
		return nil, err
	}
	if startErr != nil {
		client.Kill()
		closeFDs()
		return nil, pluginrpc.FromHandshakeError(startErr, spec.kind, spec.binary, pluginrpc.Version{Major: spec.major, Minor: -1})
	}
	p := &process{client: client, fds: fds, exited: make(chan struct{}), stop: make(chan struct{})}
	fail := func(err error) (*process, error) {
		close(p.stop)
		client.Kill()
		closeFDs()
		return nil, err
	}
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	if p.pid <= 0 {
		return fail(errors.New("plugin started but its pid is unknown"))
	}
	pidfd, err := unix.PidfdOpen(p.pid, 0)
	if err != nil {
		return fail(fmt.Errorf("pidfd_open(%d): %w", p.pid, err))
	}
	go watchExit(pidfd, p.exited, p.stop)

	rpc, err := client.Client()
	if err != nil {
		return fail(fmt.Errorf("connecting to plugin: %w", err))
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		return fail(fmt.Errorf("plugin does not speak gRPC"))
	}
	p.conn = gc.Conn
	p.raw, err = rpc.Dispense(spec.kind)
	if err != nil {
		return fail(fmt.Errorf("dispensing %s plugin: %w", spec.kind, err))
	}
	spec.log.Debug("plugin started", "binary", filepath.Base(spec.binary), "pid", p.pid)
	return p, nil
}

// watchExit closes exited when the process behind pidfd exits: a pidfd
// becomes readable then (pidfd_open(2)). It polls with a timeout so that
// closing stop ends it.
func watchExit(pidfd int, exited, stop chan struct{}) {
	defer unix.Close(pidfd)
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, err := unix.Poll(fds, 200)
		if err != nil && !errors.Is(err, unix.EINTR) {
			// Cannot watch; treat as exited so the host relaunches
			// rather than trusting a process it cannot see.
			close(exited)
			return
		}
		if n > 0 {
			close(exited)
			return
		}
	}
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// ping asks go-plugin's gRPC health service, with a deadline, whether the
// plugin answers (plugin.GRPCClient.Ping has no deadline).
func (p *process) ping(ctx context.Context) error {
	_, err := grpc_health_v1.NewHealthClient(p.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

// kill stops the process: go-plugin asks it to exit, waits two seconds,
// then kills it. It returns once the process has exited. Both go-plugin's
// kill (os.Process.Kill) and ours signal the plugin's pid, never its
// process group: an exec plugin's containers must survive it.
func (p *process) kill() {
	p.client.Kill()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = unix.Kill(p.pid, unix.SIGKILL)
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	if p.fds != nil {
		p.fds.Close()
	}
}

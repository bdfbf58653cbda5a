package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ListenOptions say how to create listeners.
type ListenOptions struct {
	// Group owns unix sockets when it exists on the host (Docker's -G,
	// default "docker"); otherwise they stay root's.
	Group  string
	Logger *slog.Logger
}

// Listen opens the listeners for one host address as config.ParseHost
// writes it: unix:///path, tcp://host:port, fd:// or fd://N. fd:// may give
// several listeners (every socket systemd passed).
func Listen(ctx context.Context, addr string, opts ListenOptions) ([]net.Listener, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	proto, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, fmt.Errorf("listen %q: no protocol", addr)
	}
	switch proto {
	case "unix":
		l, err := listenUnix(ctx, rest, opts.Group, logger)
		if err != nil {
			return nil, err
		}
		return []net.Listener{l}, nil
	case "tcp":
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", rest)
		if err != nil {
			return nil, err
		}
		// The v1.19 API has no authentication: anyone who reaches the
		// port owns the host.
		logger.Warn("API listening on TCP without TLS: anyone who can reach it has root on this host", "addr", rest)
		return []net.Listener{l}, nil
	case "fd":
		return listenFD(rest)
	}
	return nil, fmt.Errorf("listen %q: unknown protocol %q", addr, proto)
}

// listenUnix binds the socket inside a fresh 0700 directory next to path,
// sets its mode (0660) and group there, then renames it into place: at no
// moment can someone outside root and the group connect to it, without
// touching the process-wide umask as Docker 1.7 did.
func listenUnix(ctx context.Context, path, group string, logger *slog.Logger) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// A socket left by a daemon that died is stale: the caller holds the
	// daemon lock, so no live daemon answers on it. Anything else at the
	// path is not ours to remove.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("listen unix %s: exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	tmpDir, err := os.MkdirTemp(dir, ".pluggd-sock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "sock")
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", tmp)
	if err != nil {
		return nil, err
	}
	ul := l.(*net.UnixListener)
	// The listener would unlink its bind path (tmp) on Close; the socket
	// lives at path, which unixListener removes.
	ul.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, error) {
		ul.Close()
		return nil, fmt.Errorf("listen unix %s: %w", path, err)
	}
	gid := -1
	if group != "" {
		if g, err := user.LookupGroup(group); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		} else {
			logger.Debug("socket group not found, socket stays root's", "group", group)
		}
	}
	// The owner is the daemon's user, root in production.
	if gid >= 0 {
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Chmod(tmp, 0o660); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	return &unixListener{UnixListener: ul, path: path}, nil
}

// unixListener removes its socket file when closed, as Docker did on exit.
type unixListener struct {
	*net.UnixListener
	path string
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// Addr names the socket's real path rather than the temporary bind path.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// listenFD takes the sockets systemd passed (sd_listen_fds(3)): LISTEN_PID
// must be ours, LISTEN_FDS counts descriptors from 3. which is "" or "*"
// for all of them, or one descriptor number.
func listenFD(which string) ([]net.Listener, error) {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil, errors.New("listen fd://: no sockets passed by systemd (LISTEN_PID is not this process)")
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return nil, errors.New("listen fd://: no sockets passed by systemd (LISTEN_FDS)")
	}
	const first = 3 // SD_LISTEN_FDS_START
	var ls []net.Listener
	for fd := first; fd < first+n; fd++ {
		if which != "" && which != "*" && which != strconv.Itoa(fd) {
			continue
		}
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "listen-fd-"+strconv.Itoa(fd))
		l, err := net.FileListener(f)
		f.Close() // FileListener duplicated it
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("listen fd://%d: %w", fd, err)
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("listen fd://%s: no such descriptor among the %d systemd passed", which, n)
	}
	return ls, nil
}

package pluginrpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A side channel for bulk data, next to the gRPC connection: the daemon
// passes a plugin file descriptors (pipe ends, for tar streams) over a unix
// socket with SCM_RIGHTS (unix(7)), each tagged with a token that the RPC
// using it carries. Bytes then flow through a pipe, read and written with
// plain read(2)/write(2) (or splice), instead of being cut into gRPC
// messages, marshalled, framed and flow-controlled.
//
// It is an optional, negotiated capability: the daemon offers it by
// starting the plugin with one end of a SOCK_SEQPACKET socketpair as an
// inherited descriptor named by FDChannelEnv; a plugin that understands it
// says so in its contract's Init answer, and only then does the daemon
// send descriptors. A plugin that ignores the variable keeps the portable
// gRPC form.

// FDChannelEnv names the environment variable holding the number of the
// inherited descriptor of the side channel, in a plugin the daemon started.
const FDChannelEnv = "PLUGGD_PLUGIN_FD_CHANNEL"

// tokenLen is the size of a message on the channel: the token, big-endian.
const tokenLen = 8

// claimTimeout bounds how long a plugin waits for a descriptor whose RPC
// already arrived: the daemon sends the descriptor before making the call,
// so it is normally there already.
const claimTimeout = 10 * time.Second

// unclaimedTTL is how long a plugin keeps a descriptor no RPC claimed (the
// daemon's call failed after sending it) before closing it.
var unclaimedTTL = 30 * time.Second

// FDSender is the daemon's end of a plugin's side channel.
type FDSender struct {
	conn *net.UnixConn
	next atomic.Uint64
}

// NewFDChannel makes a side channel. The daemon keeps the FDSender and
// gives pluginEnd to the plugin process (exec.Cmd.ExtraFiles, with
// FDChannelEnv naming its number in the child), then closes pluginEnd.
func NewFDChannel() (s *FDSender, pluginEnd *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair for the plugin fd channel: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "plugin-fd-channel")
	defer ours.Close() // net.FileConn dups it
	c, err := net.FileConn(ours)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("plugin fd channel: %w", err)
	}
	return &FDSender{conn: c.(*net.UnixConn)}, os.NewFile(uintptr(fds[1]), "plugin-fd-channel-peer"), nil
}

// Send passes a duplicate of f to the plugin and returns the token naming
// it. The caller still owns f and closes it. An error means the plugin did
// not get f (its end is closed: it died).
func (s *FDSender) Send(f *os.File) (uint64, error) {
	token := s.next.Add(1)
	var msg [tokenLen]byte
	binary.BigEndian.PutUint64(msg[:], token)
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var werr error
	if err := rc.Control(func(fd uintptr) {
		_, _, werr = s.conn.WriteMsgUnix(msg[:], unix.UnixRights(int(fd)), nil)
	}); err != nil {
		return 0, err
	}
	if werr != nil {
		return 0, fmt.Errorf("passing a descriptor to the plugin: %w", werr)
	}
	return token, nil
}

// Close closes the daemon's end; the plugin's receiver then stops and
// closes what it holds unclaimed.
func (s *FDSender) Close() error { return s.conn.Close() }

// FDReceiver is a plugin's end of the side channel: it receives
// descriptors as they arrive and hands each to the RPC that claims its
// token.
type FDReceiver struct {
	conn *net.UnixConn

	mu      sync.Mutex
	files   map[uint64]*os.File
	arrived chan struct{} // closed and replaced on every arrival
	done    chan struct{} // closed when the channel is gone
}

// FDReceiverFromEnv returns the receiver of the side channel the daemon
// offered, or nil when it offered none (FDChannelEnv unset). It takes
// the descriptor out of reach of the plugin's own children.
func FDReceiverFromEnv() (*FDReceiver, error) {
	v := os.Getenv(FDChannelEnv)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(FDChannelEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not an inherited descriptor", FDChannelEnv, v)
	}
	// Inherited descriptors are not close-on-exec (ExtraFiles); the
	// driver's helpers (mount, mkfs) must not inherit it.
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "plugin-fd-channel")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FDChannelEnv, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("%s: descriptor %d is not a unix socket", FDChannelEnv, fd)
	}
	return NewFDReceiver(uc), nil
}

// NewFDReceiver receives on conn until it is closed (the daemon's end
// closed, or Close).
func NewFDReceiver(conn *net.UnixConn) *FDReceiver {
	r := &FDReceiver{conn: conn, files: map[uint64]*os.File{}, arrived: make(chan struct{}), done: make(chan struct{})}
	go r.receive()
	return r
}

func (r *FDReceiver) receive() {
	defer func() {
		r.mu.Lock()
		for tok, f := range r.files {
			f.Close()
			delete(r.files, tok)
		}
		close(r.done)
		r.mu.Unlock()
	}()
	buf := make([]byte, tokenLen)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		// Go asks for MSG_CMSG_CLOEXEC on Linux: received descriptors
		// are close-on-exec.
		n, oobn, flags, _, err := r.conn.ReadMsgUnix(buf, oob)
		if err != nil || (n == 0 && oobn == 0) {
			return // the daemon's end is closed
		}
		files := parseRights(oob[:oobn])
		if n != tokenLen || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || len(files) != 1 {
			// Not a message this code sends: drop it, descriptors
			// included.
			for _, f := range files {
				f.Close()
			}
			continue
		}
		tok := binary.BigEndian.Uint64(buf)
		f := files[0]
		r.mu.Lock()
		if old, ok := r.files[tok]; ok {
			old.Close()
		}
		r.files[tok] = f
		close(r.arrived)
		r.arrived = make(chan struct{})
		r.mu.Unlock()
		time.AfterFunc(unclaimedTTL, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.files[tok] == f {
				delete(r.files, tok)
				f.Close()
			}
		})
	}
}

func parseRights(oob []byte) []*os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "passed-fd"))
		}
	}
	return files
}

// Claim returns the descriptor sent with token, waiting for it to arrive
// (bounded by ctx and claimTimeout). The caller owns and closes it.
func (r *FDReceiver) Claim(ctx context.Context, token uint64) (*os.File, error) {
	timer := time.NewTimer(claimTimeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		f, ok := r.files[token]
		if ok {
			delete(r.files, token)
		}
		arrived := r.arrived
		r.mu.Unlock()
		if ok {
			return f, nil
		}
		select {
		case <-arrived:
		case <-r.done:
			return nil, errors.New("the daemon's fd channel is closed")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, fmt.Errorf("no descriptor with token %d arrived within %v", token, claimTimeout)
		}
	}
}

// Close stops receiving and closes every unclaimed descriptor.
func (r *FDReceiver) Close() error {
	err := r.conn.Close()
	<-r.done
	return err
}

package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// NewInProcess runs factory's driver behind the real wire — a gRPC server
// with the storage and negotiation services, a gRPC client, a unix
// socketpair between them — without a subprocess. It negotiates, calls
// Init with opts and returns the Client; Close stops both ends. The
// conformance suite uses it to check that a driver means the same through
// the wire as in process.
func NewInProcess(ctx context.Context, factory storage.Factory, opts storage.InitOptions) (*Client, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	serverConn, err := fileConn(fds[0], "storage-server")
	if err != nil {
		unix.Close(fds[1])
		return nil, err
	}
	clientConn, err := fileConn(fds[1], "storage-client")
	if err != nil {
		serverConn.Close()
		return nil, err
	}

	gs := grpc.NewServer(pluginrpc.ServerOptions()...)
	Register(gs, factory, nil)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(newOneConnListener(serverConn))
	}()

	dialed := false
	var dialMu sync.Mutex
	cc, err := grpc.NewClient("passthrough:///storage-in-process", append(pluginrpc.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			dialMu.Lock()
			defer dialMu.Unlock()
			// There is one connection; once it is gone the server
			// is gone too.
			if dialed {
				return nil, errors.New("in-process storage server is closed")
			}
			dialed = true
			return clientConn, nil
		}))...)
	if err != nil {
		gs.Stop()
		clientConn.Close()
		<-served
		return nil, err
	}
	c := NewClient(cc)
	c.close = func() error {
		err := cc.Close()
		gs.Stop()
		<-served
		return err
	}
	if _, err := c.Negotiate(ctx, "in-process"); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Init(ctx, opts); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return net.FileConn(f)
}

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), closed: make(chan struct{}), addr: c.LocalAddr()}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }

package pluginrpc

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// InProcess serves the services register adds on a gRPC server inside
// this process, connected to a gRPC client by a unix socketpair: the real
// wire without a subprocess, for conformance suites. stop closes the client
// and stops the server. name labels the connection.
func InProcess(name string, register func(*grpc.Server)) (conn *grpc.ClientConn, stop func() error, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	serverConn, err := fileConn(fds[0], name+"-server")
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	clientConn, err := fileConn(fds[1], name+"-client")
	if err != nil {
		serverConn.Close()
		return nil, nil, err
	}

	gs := grpc.NewServer(ServerOptions()...)
	register(gs)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = gs.Serve(newOneConnListener(serverConn))
	}()

	dialed := false
	var dialMu sync.Mutex
	cc, err := grpc.NewClient("passthrough:///"+name+"-in-process", append(DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			dialMu.Lock()
			defer dialMu.Unlock()
			// There is one connection; once it is gone the server
			// is gone too.
			if dialed {
				return nil, fmt.Errorf("in-process %s server is closed", name)
			}
			dialed = true
			return clientConn, nil
		}))...)
	if err != nil {
		gs.Stop()
		clientConn.Close()
		<-served
		return nil, nil, err
	}
	// Closing twice is harmless and reports the first outcome: a second
	// cc.Close would fail with "the client connection is closing".
	stop = sync.OnceValue(func() error {
		err := cc.Close()
		gs.Stop()
		<-served
		return err
	})
	return cc, stop, nil
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

// InProcessClient is InProcess for a kind's client: newClient makes the
// client on the connection, taking ownership of stop (its Close calls
// it); start runs the negotiation and Init. When start fails everything is
// stopped and its error returned.
func InProcessClient[C any](name string, register func(*grpc.Server), newClient func(conn *grpc.ClientConn, stop func() error) C, start func(C) error) (C, error) {
	var zero C
	cc, stop, err := InProcess(name, register)
	if err != nil {
		return zero, err
	}
	c := newClient(cc, stop)
	if err := start(c); err != nil {
		stop()
		return zero, err
	}
	return c, nil
}

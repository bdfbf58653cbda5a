package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Client talks to one supervisor over its socket. Each call opens its own
// connection (one request per connection), so a Client is safe for
// concurrent use and holds no resources between calls.
type Client struct {
	socket string
}

// Info describes a supervisor and its container.
type Info struct {
	ID string `json:"id"`
	// Status is StatusCreated before Start, StatusRunning until the init
	// exits, then StatusStopped.
	Status exec.Status `json:"status"`
	// Pid is the container's init (0 once stopped).
	Pid           int       `json:"pid"`
	SupervisorPid int       `json:"supervisor_pid"`
	Identity      Identity  `json:"identity"`
	StartedAt     time.Time `json:"started_at"`
	Terminal      bool      `json:"terminal"`
	OpenStdin     bool      `json:"open_stdin"`
	// Exit and FinishedAt are set once stopped.
	Exit       *exec.ExitStatus `json:"exit,omitempty"`
	FinishedAt time.Time        `json:"finished_at"`
}

// Dial connects to the supervisor serving socket and checks that it speaks
// this protocol version. A supervisor that is gone is an Unavailable error.
func Dial(ctx context.Context, socket string) (*Client, error) {
	c := &Client{socket: socket}
	if _, err := c.Info(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Socket is the path the Client dials.
func (c *Client) Socket() string { return c.socket }

// Info returns what the supervisor knows about itself and its container.
func (c *Client) Info(ctx context.Context) (Info, error) {
	resp, conn, err := c.call(ctx, request{Op: opInfo})
	if err != nil {
		return Info{}, err
	}
	conn.Close()
	if resp.Info == nil {
		return Info{}, errors.New("supervisor protocol: info answer without info")
	}
	return *resp.Info, nil
}

// Start makes the container execute its program (Runtime.Start) and
// returns once it runs. Starting a container that is not created is a
// Conflict error.
func (c *Client) Start(ctx context.Context) error {
	_, conn, err := c.call(ctx, request{Op: opStart})
	if err != nil {
		return err
	}
	return conn.Close()
}

// Signal sends sig to the container's init. The supervisor has not reaped
// the init while it is running, so its pid cannot have been reused; a
// container that is not running gives a Conflict error.
func (c *Client) Signal(ctx context.Context, sig syscall.Signal) error {
	_, conn, err := c.call(ctx, request{Op: opSignal, Signal: int(sig)})
	if err != nil {
		return err
	}
	return conn.Close()
}

// Resize sets the container's terminal size; without a terminal it does
// nothing, as in Docker 1.7.
func (c *Client) Resize(ctx context.Context, width, height uint16) error {
	_, conn, err := c.call(ctx, request{Op: opResize, Width: width, Height: height})
	if err != nil {
		return err
	}
	return conn.Close()
}

// Wait blocks until the container has exited, its status is recorded in
// the state directory and all its output is in the log, and returns the
// status and the time it exited. Cancelling ctx stops waiting.
func (c *Client) Wait(ctx context.Context) (exec.ExitStatus, time.Time, error) {
	resp, conn, err := c.call(ctx, request{Op: opWait})
	if err != nil {
		return exec.ExitStatus{}, time.Time{}, err
	}
	conn.Close()
	if resp.Exit == nil {
		return exec.ExitStatus{}, time.Time{}, errors.New("supervisor protocol: wait answer without exit status")
	}
	return resp.Exit.status(), resp.Exit.FinishedAt, nil
}

// Exec starts an exec process in the running container through the
// supervisor's Runtime (supervisor.RuntimeExecer) and returns once it
// runs; drivers' exec.Execer.Exec use it. Errors are classed as
// exec.Execer documents; a supervisor whose Runtime cannot exec, or that
// predates exec, gives a NotImplemented error.
func (c *Client) Exec(ctx context.Context, spec exec.ExecSpec) (ExecInfo, error) {
	resp, conn, err := c.call(ctx, request{Op: opExec, ExecSpec: execSpecOf(spec)})
	if err != nil {
		return ExecInfo{}, execOpError(err)
	}
	conn.Close()
	if resp.Exec == nil {
		return ExecInfo{}, errors.New("supervisor protocol: exec answer without exec info")
	}
	return *resp.Exec, nil
}

// ExecInfo describes exec process id: running, or how it ended. An
// unknown id is a NotFound error.
func (c *Client) ExecInfo(ctx context.Context, id string) (ExecInfo, error) {
	resp, conn, err := c.call(ctx, request{Op: opExecInfo, Exec: id})
	if err != nil {
		return ExecInfo{}, execOpError(err)
	}
	conn.Close()
	if resp.Exec == nil {
		return ExecInfo{}, errors.New("supervisor protocol: exec-info answer without exec info")
	}
	return *resp.Exec, nil
}

// AttachExec connects to exec process id's stdio, as Attach does to the
// container's. An exec started with ExecSpec.Attached holds its output
// until the first attachment, which therefore sees all of it.
func (c *Client) AttachExec(ctx context.Context, id string, opts AttachOptions) (*Attachment, error) {
	a, err := c.attach(ctx, request{Op: opExecAttach, Exec: id, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr})
	return a, execOpError(err)
}

// ResizeExec sets exec process id's terminal size; without a terminal it
// does nothing.
func (c *Client) ResizeExec(ctx context.Context, id string, width, height uint16) error {
	_, conn, err := c.call(ctx, request{Op: opExecResize, Exec: id, Width: width, Height: height})
	if err != nil {
		return execOpError(err)
	}
	return conn.Close()
}

// WaitExec blocks until exec process id has exited and its output was
// delivered, and returns its status and the time it exited.
func (c *Client) WaitExec(ctx context.Context, id string) (exec.ExitStatus, time.Time, error) {
	resp, conn, err := c.call(ctx, request{Op: opExecWait, Exec: id})
	if err != nil {
		return exec.ExitStatus{}, time.Time{}, execOpError(err)
	}
	conn.Close()
	if resp.Exit == nil {
		return exec.ExitStatus{}, time.Time{}, errors.New("supervisor protocol: wait answer without exit status")
	}
	return resp.Exit.status(), resp.Exit.FinishedAt, nil
}

// execOpError reports a supervisor that does not know the exec ops (built
// before contract v1.1) as NotImplemented.
func execOpError(err error) error {
	if err != nil && errdefs.IsInvalidParameter(err) && strings.Contains(err.Error(), "unknown op") {
		return errdefs.NotImplemented(fmt.Errorf("this container's supervisor predates exec: %w", err))
	}
	return err
}

// AttachOptions selects the streams of an attachment.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
}

// Attachment is a client's connection to a container's stdio. Output
// flows with back-pressure: the supervisor waits for this client (and so
// may slow the container, as Docker did), so read Stdout and Stderr
// concurrently and until EOF, or Close. A client that goes away never
// blocks the container.
type Attachment struct {
	// Stdin is nil unless AttachOptions.Stdin. Each Write is sent at once;
	// Close ends this client's stdin (with StdinOnce, the container's
	// stdin is closed when its first stdin client ends) but keeps the
	// output streaming.
	Stdin io.WriteCloser
	// Stdout and Stderr are nil unless asked for. With a terminal all
	// output comes on Stdout. They reach EOF when the container's output
	// ends or the attachment is closed.
	Stdout, Stderr io.Reader

	conn      net.Conn
	done      chan struct{}
	closeOnce sync.Once
	stop      func() bool

	// Set before done is closed.
	exit    *exitRecord
	readErr error
}

// Attach connects to the container's stdio. Attaching before Start sees
// all output. ctx bounds the whole attachment: cancelling it detaches.
func (c *Client) Attach(ctx context.Context, opts AttachOptions) (*Attachment, error) {
	return c.attach(ctx, request{Op: opAttach, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr})
}

func (c *Client) attach(ctx context.Context, req request) (*Attachment, error) {
	opts := AttachOptions{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr}
	_, conn, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	a := &Attachment{conn: conn, done: make(chan struct{})}
	var outW, errW *io.PipeWriter
	if opts.Stdout {
		r, w := io.Pipe()
		a.Stdout, outW = r, w
	}
	if opts.Stderr {
		r, w := io.Pipe()
		a.Stderr, errW = r, w
	}
	if opts.Stdin {
		a.Stdin = &stdinWriter{conn: conn}
	}
	a.stop = context.AfterFunc(ctx, func() { a.Close() })
	go a.demux(outW, errW)
	return a, nil
}

// demux reads frames and hands each stream's payload to its pipe; a pipe
// write returns only when the reader took the data, which is the
// back-pressure.
func (a *Attachment) demux(outW, errW *io.PipeWriter) {
	br := bufio.NewReaderSize(a.conn, 32<<10)
	buf := make([]byte, 32<<10)
	err := func() error {
		for {
			stream, n, err := readFrameHeader(br)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if n > len(buf) {
				buf = make([]byte, n)
			}
			p := buf[:n]
			if _, err := io.ReadFull(br, p); err != nil {
				return err
			}
			switch stream {
			case streamStdout, streamStderr:
				w := outW
				if stream == streamStderr {
					w = errW
				}
				if w != nil {
					// A reader that closed its end only loses its stream.
					w.Write(p)
				}
			case streamExit:
				var rec exitRecord
				if err := json.Unmarshal(p, &rec); err != nil {
					return fmt.Errorf("supervisor protocol: exit frame: %w", err)
				}
				a.exit = &rec
			}
		}
	}()
	a.readErr = err
	if outW != nil {
		outW.CloseWithError(err)
	}
	if errW != nil {
		errW.CloseWithError(err)
	}
	a.conn.Close()
	a.stop()
	close(a.done)
}

// Done is closed when the attachment ended: the container's output ended
// (the exit status follows it), the attachment was closed or the
// supervisor went away.
func (a *Attachment) Done() <-chan struct{} { return a.done }

// Exit returns the container's exit status once Done is closed. It is an
// error when the attachment ended without one (closed by the client, or
// the supervisor died).
func (a *Attachment) Exit() (exec.ExitStatus, error) {
	<-a.done
	if a.exit != nil {
		return a.exit.status(), nil
	}
	if a.readErr != nil {
		return exec.ExitStatus{}, errdefs.Unavailable(fmt.Errorf("attachment ended without an exit status: %w", a.readErr))
	}
	return exec.ExitStatus{}, errdefs.Unavailable(errors.New("attachment ended without an exit status"))
}

// Close detaches: the connection is closed and the output streams end.
// It does not affect the container, except that a stdin client detaching
// counts as closing its stdin (StdinOnce).
func (a *Attachment) Close() error {
	a.closeOnce.Do(func() { a.conn.Close() })
	return nil
}

type stdinWriter struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

func (w *stdinWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxFrame)]
		if err := writeFrame(w.conn, streamStdin, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// Close sends the zero-length stdin frame that ends this client's stdin.
func (w *stdinWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return writeFrame(w.conn, streamStdin, nil)
}

// call opens a connection, sends req and reads the answer line. On
// success the connection is returned open (attach goes on using it). The
// answer is read byte by byte up to its newline so that no frame data is
// consumed by a buffer the caller does not see.
func (c *Client) call(ctx context.Context, req request) (*response, net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, nil, errdefs.Unavailable(fmt.Errorf("supervisor at %s: %w", c.socket, err))
	}
	// Cancelling ctx while the request is outstanding (a long Wait) closes
	// the connection, which unblocks the read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req.Version = ProtocolVersion
	if _, err := conn.Write(marshalLine(req)); err != nil {
		conn.Close()
		return nil, nil, c.ioError(ctx, err)
	}
	line, err := readLine(conn, 64<<10)
	if err != nil {
		conn.Close()
		return nil, nil, c.ioError(ctx, err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("supervisor protocol: bad answer %q: %w", line, err)
	}
	if resp.Version != ProtocolVersion {
		conn.Close()
		if resp.Error != "" {
			return nil, nil, resp.err()
		}
		return nil, nil, versionError("the supervisor", resp.Version)
	}
	if err := resp.err(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	if ctx.Err() != nil {
		conn.Close()
		return nil, nil, ctx.Err()
	}
	return &resp, conn, nil
}

func (c *Client) ioError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errdefs.Unavailable(fmt.Errorf("supervisor at %s: %w", c.socket, err))
}

// readLine reads up to and including '\n', without reading beyond it.
func readLine(r io.Reader, limit int) ([]byte, error) {
	var line []byte
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if b[0] == '\n' {
			return line, nil
		}
		line = append(line, b[0])
		if len(line) > limit {
			return nil, errors.New("supervisor protocol: line too long")
		}
	}
}

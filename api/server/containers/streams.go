package containers

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/server/httputil"
	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/errdefs"
)

// rawStreamType is the hijacked streams' Content-Type (DOCKER17.md §7).
const rawStreamType = "application/vnd.docker.raw-stream"

// Stream ids of Docker's multiplexed format (remote_api_v1.19.md, Attach
// "Stream details").
const (
	streamStdout = 1
	streamStderr = 2
)

// lockedWriter serializes writes from the stdout and stderr copies onto
// one connection, so frames never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// muxWriter frames each Write as [stream,0,0,0,size] + payload, written
// in one piece.
type muxWriter struct {
	w      io.Writer
	stream byte
	buf    []byte
}

func (m *muxWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	m.buf = append(m.buf[:0], m.stream, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(m.buf[4:], uint32(len(p)))
	m.buf = append(m.buf, p...)
	if _, err := m.w.Write(m.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// outputs returns the stdout and stderr writers over w: multiplexed
// without a terminal from v1.6, raw (merged) with one or before v1.6
// (VERSIONS.md v1.6).
func outputs(w io.Writer, tty bool, v string) (io.Writer, io.Writer) {
	lw := &lockedWriter{w: w}
	if tty || version.LessThan(v, "1.6") {
		return lw, lw
	}
	return &muxWriter{w: lw, stream: streamStdout}, &muxWriter{w: lw, stream: streamStderr}
}

// attach is POST /containers/{id}/attach: the connection is hijacked once
// the container is found, answered 101 UPGRADED when the client asked for
// an upgrade, 200 otherwise, and then carries the streams both ways.
func (r *router) attach(c echo.Context) error {
	ctx := c.Request().Context()
	opts := container.AttachOptions{
		Logs:   httputil.BoolValue(c, "logs"),
		Stream: httputil.BoolValue(c, "stream"),
		Stdin:  httputil.BoolValue(c, "stdin"),
		Stdout: httputil.BoolValue(c, "stdout"),
		Stderr: httputil.BoolValue(c, "stderr"),
	}
	var conn net.Conn
	opts.Streams = func(tty bool) (container.Streams, error) {
		var s container.Streams
		var err error
		conn, s, err = hijack(c, tty)
		if err != nil {
			return s, err
		}
		if !opts.Stdin {
			s.Stdin = nil
		}
		if !opts.Stdout {
			s.Stdout = nil
		}
		if !opts.Stderr {
			s.Stderr = nil
		}
		return s, nil
	}
	err := r.b.Attach(ctx, c.Param("id"), opts)
	if conn == nil {
		return err
	}
	if err != nil {
		err = fmt.Errorf("Error attaching: %w", err)
	}
	endHijacked(conn, conn, err)
	return nil
}

// hijack takes over the connection, answers as Docker 1.7 did (101
// UPGRADED when the client asked for an upgrade, 200 otherwise; v1.17's
// hint, DOCKER17.md §7) and returns the streams over it: the client's
// input, and the outputs multiplexed unless tty.
func hijack(c echo.Context, tty bool) (net.Conn, container.Streams, error) {
	conn, brw, err := c.Response().Hijack()
	if err != nil {
		return nil, container.Streams{}, errdefs.System(fmt.Errorf("hijack connection: %w", err))
	}
	c.Response().Committed = true
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + rawStreamType + "\r\n\r\n"
	if c.Request().Header.Get("Upgrade") != "" {
		head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + rawStreamType + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	}
	if _, err := io.WriteString(conn, head); err != nil {
		return conn, container.Streams{}, err
	}
	stdout, stderr := outputs(conn, tty, version.From(c.Request().Context()))
	// The reader may already hold bytes the client sent after its
	// request.
	return conn, container.Streams{Stdin: brw.Reader, Stdout: stdout, Stderr: stderr}, nil
}

// endHijacked ends a hijacked connection. The answer is sent, so an error
// can only be reported in the stream (on errOut), as Docker 1.7 did.
func endHijacked(conn net.Conn, errOut io.Writer, err error) {
	if err != nil {
		fmt.Fprintf(errOut, "%s\n", err)
	}
	if tc, ok := conn.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	conn.Close()
}

// logs is GET /containers/{id}/logs.
func (r *router) logs(c echo.Context) error {
	ctx := c.Request().Context()
	tail := -1
	if t := c.QueryParam("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			// Docker 1.7 fell back to all lines on a bad tail.
			n = -1
		}
		tail = n
	}
	since, err := httputil.Int64Value(c, "since", 0)
	if err != nil {
		return err
	}
	opts := container.LogsOptions{
		Stdout:     httputil.BoolValue(c, "stdout"),
		Stderr:     httputil.BoolValue(c, "stderr"),
		Follow:     httputil.BoolValue(c, "follow"),
		Timestamps: httputil.BoolValue(c, "timestamps"),
		Tail:       tail,
	}
	if since > 0 {
		opts.Since = time.Unix(since, 0)
	}
	var fw *flushWriter
	opts.Streams = func(tty bool) (container.Streams, error) {
		resp := c.Response()
		resp.Header().Set(echo.HeaderContentType, rawStreamType)
		resp.WriteHeader(http.StatusOK)
		resp.Flush()
		fw = newFlushWriter(resp, opts.Follow)
		stdout, stderr := outputs(fw, tty, version.From(ctx))
		return container.Streams{Stdout: stdout, Stderr: stderr}, nil
	}
	err = r.b.Logs(ctx, c.Param("id"), opts)
	if fw != nil {
		fw.Close()
		// Started: the status is sent; an error can only end the body.
		return nil
	}
	return err
}

// flushWriter writes through to the response; when following, a ticker
// flushes what was written so a follower sees lines promptly, without a
// flush (a syscall) per line when the log is large.
type flushWriter struct {
	mu    sync.Mutex
	w     *echo.Response
	dirty bool
	stop  chan struct{}
	done  chan struct{}
}

func newFlushWriter(w *echo.Response, follow bool) *flushWriter {
	f := &flushWriter{w: w}
	if follow {
		f.stop, f.done = make(chan struct{}), make(chan struct{})
		go f.loop()
	}
	return f
}

func (f *flushWriter) loop() {
	defer close(f.done)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			f.mu.Lock()
			if f.dirty {
				f.w.Flush()
				f.dirty = false
			}
			f.mu.Unlock()
		}
	}
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirty = true
	return f.w.Write(p)
}

// Close stops the ticker and flushes the rest.
func (f *flushWriter) Close() {
	if f.stop != nil {
		close(f.stop)
		<-f.done
	}
	f.mu.Lock()
	f.w.Flush()
	f.mu.Unlock()
}

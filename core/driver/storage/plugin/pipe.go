package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/pluggd/pluggd/core/driver/storage"
	storagev1 "github.com/pluggd/pluggd/core/driver/storage/plugin/proto"
	"github.com/pluggd/pluggd/core/errdefs"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
)

// Tar streams through pipes: the optional form of Diff and ApplyDiff that
// both sides agree on at Init (InitRequest/InitResponse.pipe_streams). The
// daemon makes a pipe per call, passes the plugin's end on the descriptor
// side channel (pluginrpc.FDSender) and names it by its token in the
// request. The bytes then move with read(2)/write(2) on the pipe; the gRPC
// call carries the outcome (the status) and the end of stream:
//
//   - ApplyDiff: the daemon writes the stream into the pipe, closes it,
//     then closes its sending side (CloseSend). The plugin reads the pipe
//     to end of file and then waits for that CloseSend: a call cancelled
//     instead means the stream was cut short, whatever the pipe said. A
//     plugin that stops early closes its end, and the daemon's write fails
//     at once (EPIPE); the call's status says why.
//   - Diff: the plugin sends the empty "opened" message, writes the stream
//     into the pipe, closes it and ends the call with the stream's status;
//     the daemon reads the pipe to end of file and then takes that status.
//     Closing the reader early closes the daemon's end: the plugin's write
//     fails and it closes the driver's stream.
//
// A plugin dying closes its pipe ends, so the daemon's read or write
// returns at once and the call's status is the transport error the host
// turns into ErrUnavailable. The in-process glue (NewInProcess) does not
// use pipes.

// pipeSize is the capacity asked of each pipe (F_SETPIPE_SZ, fcntl(2)).
// The default 64 KiB makes a context switch every 64 KiB; 1 MiB is the
// default ceiling for unprivileged processes (/proc/sys/fs/pipe-max-size).
// It is also all that sits in flight between a stalled reader and its
// producer.
const pipeSize = 1 << 20

// copyBuffer is the size of the reads and writes that move a stream into
// a pipe.
const copyBuffer = 1 << 20

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBuffer); return &b }}

// newPipe returns a pipe (both ends close-on-exec) with pipeSize capacity
// when the kernel allows it.
func newPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	if rc, err := w.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
	return r, w, nil
}

// writeErr marks a failed write to a pipe, as opposed to a failed read of
// the stream being copied.
type writeErr struct{ err error }

func (e *writeErr) Error() string { return e.err.Error() }
func (e *writeErr) Unwrap() error { return e.err }

// copyToPipe copies src into w until src ends. A write failure is returned
// as a *writeErr. The buffer is reused: a write to a pipe is done with it
// when it returns.
func copyToPipe(w *os.File, src io.Reader) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return &writeErr{err}
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// Daemon side.

// applyDiffPipe is ApplyDiff through a pipe. ok is false when the pipe
// could not be handed to the plugin; the caller then sends chunks (if the
// plugin is gone, that call reports it).
func (c *Client) applyDiffPipe(ctx context.Context, id, parent string, diff io.Reader) (n int64, err error, ok bool) {
	pr, pw, err := newPipe()
	if err != nil {
		return 0, nil, false
	}
	defer pw.Close()
	token, err := c.fds.Send(pr)
	pr.Close() // the plugin has its own copy now
	if err != nil {
		return 0, nil, false
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.ApplyDiff(sctx)
	if err != nil {
		return 0, c.err(ctx, err), true
	}
	header := &storagev1.ApplyDiffRequest{Msg: &storagev1.ApplyDiffRequest_Header{Header: &storagev1.ApplyDiffHeader{Id: id, Parent: parent, PipeToken: token}}}
	if err := stream.Send(header); err != nil {
		n, err := c.finishApply(ctx, stream, err)
		return n, err, true
	}
	// A cancelled ctx unblocks a write into a full pipe.
	stop := context.AfterFunc(ctx, func() { pw.Close() })
	defer stop()
	if err := copyToPipe(pw, diff); err != nil {
		var we *writeErr
		if !errors.As(err, &we) {
			cancel()
			return 0, fmt.Errorf("reading the tar stream for layer %s: %w", id, err), true
		}
		// The plugin closed its end: it ended the call (or died, or ctx
		// ended); the status says which.
	}
	pw.Close()
	n, err = c.finishApply(ctx, stream, nil)
	return n, err, true
}

// diffPipe is Diff through a pipe; ok as for applyDiffPipe.
func (c *Client) diffPipe(ctx context.Context, id, parent string) (rc io.ReadCloser, err error, ok bool) {
	pr, pw, err := newPipe()
	if err != nil {
		return nil, nil, false
	}
	token, err := c.fds.Send(pw)
	pw.Close() // the plugin's end only: its death must end our reads
	if err != nil {
		pr.Close()
		return nil, nil, false
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := c.rpc.Diff(sctx, &storagev1.DiffRequest{Id: id, Parent: parent, PipeToken: token})
	if err == nil {
		_, err = stream.Recv()
	}
	if err != nil {
		cancel()
		pr.Close()
		if errors.Is(err, io.EOF) {
			return nil, errdefs.System(fmt.Errorf("storage plugin ended Diff of %s without opening it", id)), true
		}
		return nil, c.err(ctx, err), true
	}
	r := &pipeDiffReader{ctx: ctx, c: c, stream: stream, pipe: pr, cancel: cancel}
	// A cancelled ctx unblocks a read of an empty pipe.
	r.stop = context.AfterFunc(ctx, func() { pr.Close() })
	return r, nil, true
}

type pipeDiffReader struct {
	ctx    context.Context
	c      *Client
	stream grpc.ServerStreamingClient[storagev1.Chunk]
	pipe   *os.File
	cancel context.CancelFunc
	stop   func() bool
	err    error
	once   sync.Once
}

func (r *pipeDiffReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.pipe.Read(p)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		// The plugin closed the pipe; the call's status says whether
		// the stream was whole.
		r.err = r.status()
	case r.ctx.Err() != nil:
		r.err = r.ctx.Err()
	default:
		r.err = fmt.Errorf("reading the Diff pipe: %w", err)
	}
	r.Close()
	return n, r.err
}

func (r *pipeDiffReader) status() error {
	msg, err := r.stream.Recv()
	switch {
	case errors.Is(err, io.EOF):
		return io.EOF
	case err != nil:
		return r.c.err(r.ctx, err)
	case len(msg.GetData()) > 0:
		return errdefs.System(errors.New("storage plugin sent Diff data on both the pipe and the call"))
	}
	return errdefs.System(errors.New("storage plugin sent an unexpected message after Diff's pipe ended"))
}

func (r *pipeDiffReader) Close() error {
	r.once.Do(func() {
		r.stop()
		r.pipe.Close()
		r.cancel()
	})
	return nil
}

// Plugin side.

// applyDiffFromPipe serves ApplyDiff whose stream arrives on pipe, the
// read end the daemon passed. The caller closes pipe when this returns,
// which tells a daemon still writing that the call is over.
func (s *Server) applyDiffFromPipe(d storage.Driver, h *storagev1.ApplyDiffHeader, pipe *os.File, stream grpc.ClientStreamingServer[storagev1.ApplyDiffRequest, storagev1.ApplyDiffResponse]) error {
	r := &pipeApplyReader{pipe: pipe, recv: stream.Recv}
	n, err := d.ApplyDiff(stream.Context(), h.GetId(), h.GetParent(), r)
	if err != nil {
		return s.status(err)
	}
	return stream.SendAndClose(&storagev1.ApplyDiffResponse{Size: n})
}

// pipeApplyReader reads the pipe; at its end of file it waits for the
// daemon's CloseSend, which says the stream is whole.
type pipeApplyReader struct {
	pipe *os.File
	recv func() (*storagev1.ApplyDiffRequest, error)
	err  error
}

func (r *pipeApplyReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.pipe.Read(p)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, io.EOF) {
		r.err = fmt.Errorf("receiving the tar stream: %w", err)
		return n, r.err
	}
	switch _, rerr := r.recv(); {
	case errors.Is(rerr, io.EOF):
		r.err = io.EOF
	case rerr != nil:
		r.err = fmt.Errorf("receiving the tar stream: %w", rerr)
	default:
		r.err = errdefs.InvalidParameter(errors.New("ApplyDiff: a message after the header of a piped stream"))
	}
	return n, r.err
}

// diffToPipe serves Diff into f, the write end the daemon passed. rc is
// the driver's open stream.
func (s *Server) diffToPipe(f *os.File, rc io.Reader, stream grpc.ServerStreamingServer[storagev1.Chunk]) error {
	// The daemon cancelling without closing its end must not leave us
	// blocked on a full pipe.
	stop := context.AfterFunc(stream.Context(), func() { f.Close() })
	defer stop()
	if err := stream.Send(&storagev1.Chunk{}); err != nil {
		return err
	}
	err := copyToPipe(f, rc)
	// Close before the status goes out: the daemon reads to end of file,
	// then reads the status.
	f.Close()
	var we *writeErr
	switch {
	case err == nil:
		return nil
	case errors.As(err, &we):
		// The daemon closed its end (an early Close) or is gone.
		return fmt.Errorf("writing the Diff pipe: %w", err)
	default:
		return s.status(err)
	}
}

// claim takes the pipe end named by token. Handlers claim it before
// anything else can fail, so that every error closes it.
func (s *Server) claim(ctx context.Context, token uint64) (*os.File, error) {
	if s.fds == nil {
		return nil, s.status(errdefs.InvalidParameter(errors.New("a pipe token, but this plugin has no fd channel")))
	}
	f, err := s.fds.Claim(ctx, token)
	if err != nil {
		return nil, s.status(errdefs.System(err))
	}
	return f, nil
}

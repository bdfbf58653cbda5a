package exectest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
)

// dial connects to a container's supervisor as the daemon does.
func (h *harness) dial(socket string) *supervisor.Client {
	h.t.Helper()
	ctx, cancel := h.callCtx()
	defer cancel()
	c, err := supervisor.Dial(ctx, socket)
	if err != nil {
		h.t.Fatalf("supervisor.Dial(%s): %v", socket, err)
	}
	return c
}

// wait waits on the supervisor for the container's exit status.
func (h *harness) wait(socket string) (exec.ExitStatus, time.Time) {
	h.t.Helper()
	c := h.dial(socket)
	ctx, cancel := h.callCtx()
	defer cancel()
	st, at, err := c.Wait(ctx)
	if err != nil {
		h.t.Fatalf("supervisor Wait: %v", err)
	}
	return st, at
}

// session is one attachment whose output streams are collected in the
// background, read promptly as the supervisor's back-pressure demands.
type session struct {
	h      *harness
	a      *supervisor.Attachment
	stdout *syncBuffer
	stderr *syncBuffer
	copied sync.WaitGroup
}

// attach attaches to the container behind socket for the rest of the
// check (or until finish).
func (h *harness) attach(socket string, opts supervisor.AttachOptions) *session {
	h.t.Helper()
	c := h.dial(socket)
	// The attachment lives as long as the check; t.Context ends with it.
	a, err := c.Attach(h.ctx, opts)
	if err != nil {
		h.t.Fatalf("Attach(%+v): %v", opts, err)
	}
	return h.collect(a)
}

// collect reads a's output streams for the rest of the check.
func (h *harness) collect(a *supervisor.Attachment) *session {
	s := &session{h: h, a: a, stdout: newSyncBuffer(), stderr: newSyncBuffer()}
	for _, p := range []struct {
		r   io.Reader
		buf *syncBuffer
	}{{a.Stdout, s.stdout}, {a.Stderr, s.stderr}} {
		if p.r == nil {
			continue
		}
		s.copied.Add(1)
		go func() {
			defer s.copied.Done()
			io.Copy(p.buf, p.r)
		}()
	}
	h.t.Cleanup(func() {
		a.Close()
		s.copied.Wait()
	})
	return s
}

// write sends p to the container's stdin.
func (s *session) write(p []byte) {
	s.h.t.Helper()
	if _, err := s.a.Stdin.Write(p); err != nil {
		s.h.t.Fatalf("writing to stdin: %v", err)
	}
}

// closeStdin ends this client's stdin.
func (s *session) closeStdin() {
	s.h.t.Helper()
	if err := s.a.Stdin.Close(); err != nil {
		s.h.t.Fatalf("closing stdin: %v", err)
	}
}

// finish waits for the attachment to end with the container's exit and
// returns all output and the exit status the attachment reported.
func (s *session) finish() (stdout, stderr []byte, exit exec.ExitStatus) {
	s.h.t.Helper()
	select {
	case <-s.a.Done():
	case <-time.After(callTimeout):
		s.h.t.Fatalf("the attachment did not end within %v; stdout so far %q, stderr %q", callTimeout, clip(s.stdout.Bytes()), clip(s.stderr.Bytes()))
	}
	s.copied.Wait()
	exit, err := s.a.Exit()
	if err != nil {
		s.h.t.Fatalf("the attachment ended without an exit status: %v", err)
	}
	return s.stdout.Bytes(), s.stderr.Bytes(), exit
}

// waitFor waits until buf holds substr.
func (s *session) waitFor(buf *syncBuffer, substr string) {
	s.h.t.Helper()
	ctx, cancel := context.WithTimeout(s.h.ctx, callTimeout)
	defer cancel()
	if !buf.waitFor(ctx, substr) {
		s.h.t.Fatalf("output %q did not arrive within %v; got %q", substr, callTimeout, clip(buf.Bytes()))
	}
}

// output runs spec to completion, attached from before Start, and returns
// its output and exit status.
func (h *harness) output(spec exec.ContainerSpec) (stdout, stderr string, exit exec.ExitStatus) {
	h.t.Helper()
	created := h.create(spec)
	s := h.attach(created.Supervisor, supervisor.AttachOptions{Stdout: true, Stderr: true})
	waited := h.waitAsync(created.Supervisor)
	h.start(spec.ID)
	o, e, x := s.finish()
	if w := h.result(waited); w != x {
		h.t.Errorf("Wait returned %+v, the attachment %+v", w, x)
	}
	return string(o), string(e), x
}

// waitAsync begins a Wait on the supervisor now, while it surely runs (it
// may exit soon after the container), as the daemon does right after
// Create. Wait answers once the exit status is recorded and all output is
// in the log.
func (h *harness) waitAsync(socket string) <-chan waitResult {
	h.t.Helper()
	c := h.dial(socket)
	ch := make(chan waitResult, 1)
	go func() {
		// Errors go through the channel: the check may have ended by the
		// time Wait returns, and t must not be used then.
		var r waitResult
		r.exit, _, r.err = c.Wait(h.ctx)
		ch <- r
	}()
	return ch
}

type waitResult struct {
	exit exec.ExitStatus
	err  error
}

// result receives what waitAsync's Wait returned.
func (h *harness) result(waited <-chan waitResult) exec.ExitStatus {
	h.t.Helper()
	select {
	case r := <-waited:
		if r.err != nil {
			h.t.Fatalf("supervisor Wait: %v", r.err)
		}
		return r.exit
	case <-time.After(callTimeout):
		h.t.Fatalf("supervisor Wait did not return within %v", callTimeout)
		return exec.ExitStatus{}
	}
}

// syncBuffer is a bytes.Buffer written by one goroutine and read by
// another, which can wait for what it expects.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) waitFor(ctx context.Context, substr string) bool {
	for {
		b.mu.Lock()
		ok := strings.Contains(b.buf.String(), substr)
		changed := b.changed
		b.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// clip shortens output for a message.
func clip(b []byte) []byte {
	if len(b) > 512 {
		return append(bytes.Clone(b[:256]), "..."...)
	}
	return b
}

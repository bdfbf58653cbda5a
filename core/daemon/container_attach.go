package daemon

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"github.com/pluggd/pluggd/core/jsonlog"
)

// Attach connects a client to a container's stdio (POST
// /containers/{id}/attach). With Logs the json-file log is sent first.
// With Stream it attaches to the container's supervisor: at once when the
// container has one, otherwise at its next start, before the program
// runs, so nothing is lost (docker run attaches, then starts). It returns
// once the container's output has ended (it exited) or the client went
// away.
func (s *Containers) Attach(ctx context.Context, ref string, opts container.AttachOptions) error {
	c, l, err := s.get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	r := c.Snapshot()
	sup := l.sup
	var w *attachWaiter
	if opts.Stream && sup == nil {
		// Registered before the client hears back, so that a start sent
		// right after the attach answer finds it.
		w = &attachWaiter{sup: make(chan *supervisor.Client, 1), attached: make(chan struct{})}
		l.waiters = append(l.waiters, w)
	}
	c.Unlock()
	attachedOnce := sync.OnceFunc(func() {
		if w != nil {
			close(w.attached)
		}
	})
	defer func() {
		attachedOnce()
		if w == nil {
			return
		}
		c.Lock()
		for i, x := range l.waiters {
			if x == w {
				l.waiters = append(l.waiters[:i:i], l.waiters[i+1:]...)
				break
			}
		}
		c.Unlock()
	}()

	streams, err := opts.Streams(r.Config.Tty)
	if err != nil {
		return err
	}
	if opts.Logs && r.LogPath != "" {
		ro := jsonlog.ReadOptions{Tail: jsonlog.TailAll}
		if err := copyLog(ctx, r.LogPath, ro, opts.Stdout, opts.Stderr, false, streams); err != nil {
			return err
		}
	}
	if !opts.Stream {
		return nil
	}
	if w != nil {
		var ok bool
		select {
		case sup, ok = <-w.sup:
			if !ok {
				return nil // removed
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Not the request's context: reading the client's half-close (end of
	// stdin) through the hijacked reader cancels it in net/http, and the
	// output must go on. Closing the connection ends the attachment.
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	a, err := sup.Attach(actx, supervisor.AttachOptions{
		Stdin:  opts.Stdin && r.Config.OpenStdin && streams.Stdin != nil,
		Stdout: opts.Stdout && streams.Stdout != nil,
		Stderr: opts.Stderr && streams.Stderr != nil,
	})
	attachedOnce()
	if err != nil {
		// The run ended before we reached its supervisor: nothing to
		// stream.
		if !isRunning(c) {
			return nil
		}
		return err
	}
	defer a.Close()
	return pump(a, streams)
}

func isRunning(c *container.Container) bool {
	c.Lock()
	defer c.Unlock()
	return c.State.Running
}

// pump copies between the attachment and the client until the
// container's output ends. The client's end of stdin ends this client's
// stdin at the supervisor (which closes the container's with StdinOnce).
func pump(a *supervisor.Attachment, streams container.Streams) error {
	if a.Stdin != nil {
		// Ends when the client closes its side, or when the caller
		// closes the connection after we return.
		go func() {
			io.Copy(a.Stdin, streams.Stdin)
			a.Stdin.Close()
		}()
	}
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, p := range []struct {
		dst io.Writer
		src io.Reader
	}{{streams.Stdout, a.Stdout}, {streams.Stderr, a.Stderr}} {
		if p.src == nil || p.dst == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := io.Copy(p.dst, p.src); err != nil {
				// The client went away: detach so the other copy ends.
				a.Close()
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if !errors.Is(err, io.ErrClosedPipe) {
			return err
		}
	}
	return nil
}

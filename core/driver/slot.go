package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pluggd/pluggd/core/driver/pluginrpc"
)

// Health checking and relaunch timing.
const (
	pingInterval     = 10 * time.Second
	pingTimeout      = 5 * time.Second
	pingFailures     = 3 // consecutive failed pings before the host kills a live but mute plugin
	relaunchMinDelay = 100 * time.Millisecond
	relaunchMaxDelay = 30 * time.Second
	// exitGrace is how long a call that failed on the wire waits for the
	// process's exit to be seen, to tell "plugin died" from other wire
	// errors in the log.
	exitGrace = 500 * time.Millisecond
)

// slot is one configured plugin across its processes, whatever its kind:
// it launches the process, watches it (exit and health), relaunches it with
// backoff, and gives calls the live client or an UnavailableError. C is
// the kind's client type, I its cached Info.
type slot[C comparable, I any] struct {
	kind, name string
	log        *slog.Logger
	// launch starts a process and runs the negotiation and Init on it;
	// on error no process is left.
	launch func(ctx context.Context) (*process, C, I, error)
	// relaunched runs on the supervising goroutine after each successful
	// relaunch (not after the first launch), before the next health
	// check; ctx ends when the host shuts down.
	relaunched func(ctx context.Context, drv C, info I)

	mu      sync.Mutex
	proc    *process // nil while down
	drv     C
	info    I
	lastErr error         // why the plugin is down
	running bool          // a relaunch attempt is under way
	changed chan struct{} // closed and replaced on every state change
	closed  bool

	stop context.CancelFunc
	done chan struct{}
}

// start launches the first process and starts supervising it.
func (s *slot[C, I]) start(ctx context.Context) error {
	s.changed = make(chan struct{})
	s.done = make(chan struct{})
	proc, drv, info, err := s.launch(ctx)
	if err != nil {
		return err
	}
	s.proc, s.drv, s.info = proc, drv, info
	sctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.supervise(sctx)
	return nil
}

// cachedInfo is the Info Init reported at the last (re)launch.
func (s *slot[C, I]) cachedInfo() I {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// pid is the current plugin process's pid, 0 while it is down.
func (s *slot[C, I]) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// notify wakes everything waiting for a state change; s.mu is held.
func (s *slot[C, I]) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// supervise waits for the process to exit or to stop answering pings,
// and relaunches it with exponential backoff until it runs again or the
// host shuts down.
func (s *slot[C, I]) supervise(ctx context.Context) {
	defer close(s.done)
	var zero C
	for {
		s.mu.Lock()
		proc := s.proc
		s.mu.Unlock()
		if !s.watch(ctx, proc) {
			return
		}
		s.log.Error(s.kind+" plugin exited; relaunching", "pid", proc.pid)
		s.mu.Lock()
		s.proc, s.drv = nil, zero
		s.lastErr = fmt.Errorf("plugin process %d exited", proc.pid)
		s.running = true
		s.notify()
		s.mu.Unlock()
		proc.kill() // reap and release go-plugin's resources

		delay := relaunchMinDelay
		for {
			newProc, drv, info, err := s.launch(ctx)
			s.mu.Lock()
			if err == nil {
				s.proc, s.drv, s.info, s.lastErr = newProc, drv, info, nil
				s.running = false
				s.notify()
				s.mu.Unlock()
				s.log.Info(s.kind+" plugin relaunched", "pid", newProc.pid)
				if s.relaunched != nil {
					s.relaunched(ctx, drv, info)
				}
				break
			}
			s.lastErr = err
			s.running = false
			s.notify()
			s.mu.Unlock()
			s.log.Error("relaunching "+s.kind+" plugin failed", "error", err, "retry_in", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, relaunchMaxDelay)
			s.mu.Lock()
			s.running = true
			s.notify()
			s.mu.Unlock()
		}
	}
}

// watch returns true when proc exited (or was killed for not answering),
// false when ctx ended.
func (s *slot[C, I]) watch(ctx context.Context, proc *process) bool {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return false
		case <-proc.exited:
			return true
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := proc.ping(pctx)
			cancel()
			if err == nil || ctx.Err() != nil {
				failures = 0
				continue
			}
			failures++
			s.log.Warn(s.kind+" plugin did not answer its health check", "pid", proc.pid, "error", err, "failures", failures)
			if failures >= pingFailures {
				s.log.Error("killing unresponsive "+s.kind+" plugin", "pid", proc.pid)
				proc.kill()
				return true
			}
		}
	}
}

// acquire returns the live process and client, waiting for a relaunch
// that is under way; while the plugin is down and no attempt runs it
// returns an UnavailableError carrying the last failure.
func (s *slot[C, I]) acquire(ctx context.Context, op string) (*process, C, error) {
	var zero C
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, zero, s.unavailable(op, errors.New("the plugin host is shut down"))
		}
		proc, drv, running, lastErr, changed := s.proc, s.drv, s.running, s.lastErr, s.changed
		s.mu.Unlock()
		switch {
		case proc != nil && !proc.hasExited():
			return proc, drv, nil
		case proc == nil && !running:
			return nil, zero, s.unavailable(op, lastErr)
		}
		// The process exited and the supervisor is catching up, or a
		// relaunch is under way: wait for its outcome.
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, zero, ctx.Err()
		}
	}
}

func (s *slot[C, I]) unavailable(op string, err error) error {
	return &UnavailableError{Kind: s.kind, Name: s.name, Op: op, Err: err}
}

// wireErr turns an error from a call on proc into what the caller sees: a
// failure of the connection becomes an UnavailableError.
func (s *slot[C, I]) wireErr(ctx context.Context, op string, proc *process, err error) error {
	if err == nil || ctx.Err() != nil || !pluginrpc.IsTransport(err) {
		return err
	}
	select {
	case <-proc.exited:
		return s.unavailable(op, fmt.Errorf("plugin process %d died during the call: %w", proc.pid, err))
	case <-time.After(exitGrace):
		return s.unavailable(op, err)
	}
}

// call runs f on the live driver. A read-only call that failed because
// the process died before answering is retried once on the relaunched
// process, so that a call right after a crash does not fail needlessly.
func call[C comparable, I, T any](ctx context.Context, s *slot[C, I], op string, readOnly bool, f func(C) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		proc, drv, err := s.acquire(ctx, op)
		if err != nil {
			var zero T
			return zero, err
		}
		v, err := f(drv)
		err = s.wireErr(ctx, op, proc, err)
		if readOnly && attempt == 0 && errors.Is(err, ErrUnavailable) && proc.hasExited() {
			continue
		}
		return v, err
	}
}

// shutdown stops supervising, runs before (when the process is still
// alive) and stops the process.
func (s *slot[C, I]) shutdown(before func(C) error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.notify()
	s.mu.Unlock()
	s.stop()
	<-s.done

	var zero C
	s.mu.Lock()
	proc, drv := s.proc, s.drv
	s.proc, s.drv = nil, zero
	s.mu.Unlock()
	if proc == nil {
		return nil
	}
	var err error
	if before != nil && !proc.hasExited() {
		err = before(drv)
	}
	proc.kill()
	s.log.Info(s.kind+" plugin stopped", "pid", proc.pid)
	return err
}

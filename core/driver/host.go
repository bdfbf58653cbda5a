package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Host owns every plugin process the daemon runs. Create it with NewHost,
// start drivers with StartStorage and StartExec, and call Shutdown once
// when the daemon stops.
type Host struct {
	log *slog.Logger

	mu     sync.Mutex
	closed bool
	// stops stops each started driver (Storage.shutdown, Exec.shutdown).
	stops []func(context.Context) error

	// Plugins are forked by one goroutine locked to its OS thread: the
	// kernel sends a child its Pdeathsig when the *thread* that forked it
	// exits (prctl(2)), and the Go runtime may end an ordinary thread at
	// any time. This thread ends only when the Host shuts down.
	spawn     chan func()
	spawnQuit chan struct{}
	spawnDone chan struct{}
}

// NewHost returns a Host that logs to log.
func NewHost(log *slog.Logger) *Host {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Host{log: log, spawn: make(chan func()), spawnQuit: make(chan struct{}), spawnDone: make(chan struct{})}
	go h.spawner()
	return h
}

func (h *Host) spawner() {
	defer close(h.spawnDone)
	// Never unlocked: the runtime terminates the thread when this
	// goroutine returns, which is the point (see Host.spawn).
	runtime.LockOSThread()
	for {
		select {
		case f := <-h.spawn:
			f()
		case <-h.spawnQuit:
			return
		}
	}
}

// onSpawnThread runs f on the spawner thread and waits for it.
func (h *Host) onSpawnThread(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case h.spawn <- func() { defer close(done); f() }:
	case <-h.spawnDone:
		return errors.New("plugin host is shut down")
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// prepare checks a driver's configuration and creates its directory
// (home or root) with mode 0700, also when it existed with another mode:
// it holds driver state no other user should read.
func prepare(kind, name, binary, dir string) error {
	if name == "" || !filepath.IsAbs(binary) || !filepath.IsAbs(dir) {
		return fmt.Errorf("%s driver %q: name, absolute binary path and absolute directory are required", kind, name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s driver %q: %w", kind, name, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("%s driver %q: %w", kind, name, err)
	}
	return nil
}

// add registers a started driver's stop function for Shutdown.
func (h *Host) add(stop func(context.Context) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("plugin host is shut down")
	}
	h.stops = append(h.stops, stop)
	return nil
}

// Shutdown calls Cleanup on every storage driver, stops every plugin
// process and waits for them. Containers are not touched: an exec plugin's
// supervisors run in their own sessions and outlive it. Calls made
// afterwards fail with ErrUnavailable. ctx bounds the Cleanup calls;
// processes are stopped regardless.
func (h *Host) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	stops := h.stops
	h.stops = nil
	h.mu.Unlock()

	var errs []error
	var wg sync.WaitGroup
	var errMu sync.Mutex
	for _, stop := range stops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stop(ctx); err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(h.spawnQuit)
	<-h.spawnDone
	return errors.Join(errs...)
}

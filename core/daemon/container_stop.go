package daemon

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Wait blocks until the container is not running and returns its exit
// code (POST /containers/{id}/wait).
func (s *Containers) Wait(ctx context.Context, ref string) (int, error) {
	c, _, err := s.get(ref)
	if err != nil {
		return 0, err
	}
	if _, err := waitStopped(ctx, c, -1); err != nil {
		return 0, err
	}
	c.Lock()
	defer c.Unlock()
	return c.State.ExitCode, nil
}

// Stop sends SIGTERM, then SIGKILL after timeout, and waits for the exit
// (POST /containers/{id}/stop). A container that is not running is
// NotModified (304).
func (s *Containers) Stop(ctx context.Context, ref string, timeout time.Duration) (err error) {
	c, _, err := s.get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	running, paused := c.State.Running, c.State.Paused
	c.Unlock()
	if !running {
		return errdefs.NotModified(errors.New("Container already stopped"))
	}
	if paused {
		return errPaused(ref)
	}
	defer func() {
		if err == nil {
			s.event(c, "stop") // after the monitor's die
		}
	}()
	if err := s.signal(ctx, c.ID, syscall.SIGTERM); err != nil {
		s.log.Warn("stop: SIGTERM failed, killing", "id", c.ID, "err", err)
	} else if stopped, err := waitStopped(ctx, c, timeout); err != nil || stopped {
		return err
	}
	return s.killAndWait(ctx, c.ID, ref)
}

// Kill sends sig (POST /containers/{id}/kill). SIGKILL, the default,
// waits for the exit (v1.19 doc). A container that is not running is left
// alone without error, as Docker 1.7's KillSig did.
func (s *Containers) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	c, _, err := s.get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	running, paused := c.State.Running, c.State.Paused
	c.Unlock()
	if !running {
		return nil
	}
	if paused {
		return errPaused(ref)
	}
	if sig == 0 || sig == syscall.SIGKILL {
		if err := s.killAndWait(ctx, c.ID, ref); err != nil {
			return err
		}
		s.event(c, "kill")
		return nil
	}
	if err := s.signal(ctx, c.ID, sig); err != nil {
		return fmt.Errorf("Cannot kill container %s: %w", ref, err)
	}
	s.event(c, "kill")
	return nil
}

// killAndWait sends SIGKILL and waits until the exit is recorded.
func (s *Containers) killAndWait(ctx context.Context, id, ref string) error {
	c, _, err := s.get(id)
	if err != nil {
		return err
	}
	if err := s.signal(ctx, id, syscall.SIGKILL); err != nil {
		return fmt.Errorf("Cannot kill container %s: %w", ref, err)
	}
	_, err = waitStopped(ctx, c, -1)
	return err
}

// signal sends sig through the driver; a container that stopped meanwhile
// (Conflict from the driver) is not an error. A paused container is
// refused, as Docker 1.7's KillSig did: stop, kill and rm -f say to
// unpause it first.
func (s *Containers) signal(ctx context.Context, id string, sig syscall.Signal) error {
	if s.exec == nil {
		return errNoExecDriver
	}
	if c, _, err := s.get(id); err == nil {
		c.Lock()
		paused := c.State.Running && c.State.Paused
		c.Unlock()
		if paused {
			return errPaused(id)
		}
	}
	err := s.exec.Signal(ctx, id, sig)
	if errdefs.IsConflict(err) || errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// Resize sets the terminal size of a running container's process
// (POST /containers/{id}/resize).
func (s *Containers) Resize(ctx context.Context, ref string, height, width int) error {
	c, l, err := s.get(ref)
	if err != nil {
		return err
	}
	h, w, err := termSize(height, width)
	if err != nil {
		return err
	}
	c.Lock()
	sup := l.sup
	c.Unlock()
	if sup == nil {
		return fmt.Errorf("Cannot resize container %s: container is not running", ref)
	}
	return sup.Resize(ctx, w, h)
}

// termSize checks a terminal size from the API (resize's h and w).
func termSize(height, width int) (h, w uint16, err error) {
	if height < 0 || width < 0 || height > 0xffff || width > 0xffff {
		return 0, 0, errdefs.InvalidParameter(fmt.Errorf("invalid terminal size %dx%d", width, height))
	}
	return uint16(height), uint16(width), nil
}

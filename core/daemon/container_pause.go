package daemon

import (
	"context"
	"fmt"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Pause freezes every process of a running container (POST
// /containers/{id}/pause), through the exec driver's Pause; a driver
// without the Pause capability is refused in requireCapability. Pausing a
// container that is not running or already paused is a Conflict (Docker
// 1.7 answered 500 with these words; later Dockers 409).
func (s *Containers) Pause(ctx context.Context, ref string) error {
	return s.setPaused(ctx, ref, true)
}

// Unpause thaws a paused container (POST /containers/{id}/unpause).
func (s *Containers) Unpause(ctx context.Context, ref string) error {
	return s.setPaused(ctx, ref, false)
}

func (s *Containers) setPaused(ctx context.Context, ref string, pause bool) error {
	c, l, err := s.get(ref)
	if err != nil {
		return err
	}
	if s.exec == nil {
		return errNoExecDriver
	}
	if err := s.requireCapability(capPause); err != nil {
		return err
	}
	// The freezer change and the record change together, against a
	// concurrent start, stop's kill or remove.
	l.op.Lock()
	defer l.op.Unlock()
	c.Lock()
	running, paused := c.State.Running, c.State.Paused
	c.Unlock()
	switch {
	case !running:
		return errdefs.Conflict(fmt.Errorf("Container %s is not running", ref))
	case pause && paused:
		return errdefs.Conflict(fmt.Errorf("Container %s is already paused", ref))
	case !pause && !paused:
		return errdefs.Conflict(fmt.Errorf("Container %s is not paused", ref))
	}
	event := "pause"
	if pause {
		err = s.exec.Pause(ctx, c.ID)
	} else {
		event = "unpause"
		err = s.exec.Resume(ctx, c.ID)
	}
	if err != nil {
		return fmt.Errorf("Cannot %s container %s: %w", event, ref, err)
	}
	c.Lock()
	c.State.Paused = pause
	if serr := s.store.Save(c); serr != nil {
		s.log.Error("save container", "id", c.ID, "err", serr)
	}
	c.Notify()
	c.Unlock()
	s.event(c, event)
	return nil
}

// errPaused refuses to signal a paused container: its processes are frozen
// and would take the signal only once thawed (Docker 1.7's KillSig said
// the same).
func errPaused(ref string) error {
	return errdefs.Conflict(fmt.Errorf("Container %s is paused. Unpause the container before stopping", ref))
}

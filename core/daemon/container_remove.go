package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Remove deletes a container, its layers and its directory (DELETE
// /containers/{id}). A running one is a Conflict unless force, which kills
// it first. volumes ("v") is accepted: pluggd makes no volumes yet.
func (s *Containers) Remove(ctx context.Context, ref string, force, volumes bool) error {
	c, l, err := s.get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	running := c.State.Running
	c.Unlock()
	if running {
		if !force {
			// Docker 1.7's text (daemon/delete.go).
			return errdefs.Conflict(errors.New("Conflict, You cannot remove a running container. Stop the container before attempting removal or use -f"))
		}
		if err := s.killAndWait(ctx, c.ID, ref); err != nil {
			return err
		}
	}
	ctx = context.WithoutCancel(ctx)
	l.op.Lock()
	defer l.op.Unlock()
	c.Lock()
	if c.State.Running {
		// Started again between the kill and here.
		c.Unlock()
		return errdefs.Conflict(errors.New("Conflict, You cannot remove a running container. Stop the container before attempting removal or use -f"))
	}
	if l.removed {
		c.Unlock()
		return errdefs.NotFound(fmt.Errorf("no such id: %s", ref))
	}
	done := l.monitorDone
	c.Unlock()
	if done != nil {
		<-done
	}
	if s.exec != nil {
		if err := s.exec.Delete(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("Cannot destroy container %s: %w", ref, err)
		}
	}
	if err := s.removeLayer(ctx, c.ID); err != nil {
		return fmt.Errorf("Cannot destroy container %s: Driver %s failed to remove root filesystem %s: %w", ref, s.storageName, c.ID, err)
	}
	if err := s.removeLayer(ctx, c.ID+initSuffix); err != nil {
		return fmt.Errorf("Cannot destroy container %s: Driver %s failed to remove init filesystem %s-init: %w", ref, s.storageName, c.ID, err)
	}
	if err := s.store.Delete(c.ID); err != nil {
		return err
	}
	c.Lock()
	l.removed = true
	waiters := l.waiters
	l.waiters = nil
	c.Notify()
	c.Unlock()
	for _, w := range waiters {
		close(w.sup)
	}
	s.mu.Lock()
	delete(s.live, c.ID)
	s.mu.Unlock()
	s.event(c, "destroy")
	return nil
}

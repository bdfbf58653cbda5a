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
//
// The destroy event is not logged here: the returned announce does it, and
// the API calls it once the client has its answer (a moment after). Docker 1.7 logged it
// first, but today's CLI, waiting on /events in `docker run --rm`, cancels
// its own DELETE the moment it sees destroy and then reports "context
// canceled" for a removal that worked.
func (s *Containers) Remove(ctx context.Context, ref string, force, volumes bool) (announce func(), err error) {
	announce = func() {}
	c, l, err := s.get(ref)
	if err != nil {
		return announce, err
	}
	c.Lock()
	running := c.State.Running
	c.Unlock()
	if running {
		if !force {
			// Docker 1.7's text (daemon/delete.go).
			return announce, errdefs.Conflict(errors.New("Conflict, You cannot remove a running container. Stop the container before attempting removal or use -f"))
		}
		if err := s.killAndWait(ctx, c.ID, ref); err != nil {
			return announce, err
		}
	}
	ctx = context.WithoutCancel(ctx)
	l.op.Lock()
	defer l.op.Unlock()
	c.Lock()
	if c.State.Running {
		// Started again between the kill and here.
		c.Unlock()
		return announce, errdefs.Conflict(errors.New("Conflict, You cannot remove a running container. Stop the container before attempting removal or use -f"))
	}
	if l.removed {
		c.Unlock()
		return announce, errdefs.NotFound(fmt.Errorf("no such id: %s", ref))
	}
	done := l.monitorDone
	c.Unlock()
	if done != nil {
		<-done
	}
	if s.exec != nil {
		if err := s.exec.Delete(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) {
			return announce, fmt.Errorf("Cannot destroy container %s: %w", ref, err)
		}
	}
	if err := s.removeLayer(ctx, c.ID); err != nil {
		return announce, fmt.Errorf("Cannot destroy container %s: Driver %s failed to remove root filesystem %s: %w", ref, s.storageName, c.ID, err)
	}
	if err := s.removeLayer(ctx, c.ID+initSuffix); err != nil {
		return announce, fmt.Errorf("Cannot destroy container %s: Driver %s failed to remove init filesystem %s-init: %w", ref, s.storageName, c.ID, err)
	}
	if err := s.store.Delete(c.ID); err != nil {
		return announce, err
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
	s.forgetExecs(c.ID)
	return func() { s.event(c, "destroy") }, nil
}

package daemon

import (
	"strconv"

	"github.com/pluggd/pluggd/core/container"
)

// ResolveID returns the full id of the container ref names (name, id or
// unique id prefix): the event log's resolver for the container filter.
func (s *Containers) ResolveID(ref string) (string, bool) {
	c, err := s.store.Get(ref)
	if err != nil {
		return "", false
	}
	return c.ID, true
}

// event logs a container event, from the image as the client named it
// (Config.Image, DOCKER17.md §6). It reads only what create fixed, so the
// caller may hold c's lock or not; it never blocks.
func (s *Containers) event(c *container.Container, status string) {
	if s.events != nil {
		s.events.Log(status, c.ID, c.Config.Image)
	}
}

// dieEvent logs die, preceded by oom when the kernel killed the process
// (Docker 1.7's monitor order). The exit code rides along as an attribute:
// today's docker CLI takes `docker run`'s exit status from it. c's lock
// must be held, so the die is logged before a waiting stop can log stop.
func (s *Containers) dieEvent(c *container.Container) {
	if s.events == nil {
		return
	}
	if c.State.OOMKilled {
		s.event(c, "oom")
	}
	s.events.LogAttributes("die", c.ID, c.Config.Image, map[string]string{"exitCode": strconv.Itoa(c.State.ExitCode)})
}

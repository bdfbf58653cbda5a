package container

import (
	"fmt"
	"time"

	units "github.com/docker/go-units"
)

// State is a container's state, inspect's "State" (Docker 1.7's
// daemon.State, without its lock).
type State struct {
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	// Error is the last error starting or running the container.
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// String is the container list's Status, as Docker 1.7's State.String
// wrote it: "Up 3 seconds", "Exited (0) 5 seconds ago", and "" for a
// container that never ran (the "Created" status arrived in Docker 1.8).
func (s State) String() string {
	now := time.Now().UTC()
	switch {
	case s.Running && s.Paused:
		return fmt.Sprintf("Up %s (Paused)", units.HumanDuration(now.Sub(s.StartedAt)))
	case s.Running && s.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
	case s.Running:
		return "Up " + units.HumanDuration(now.Sub(s.StartedAt))
	case s.Dead:
		return "Dead"
	case s.FinishedAt.IsZero():
		return ""
	}
	return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
}

// StateString is the word the list's status filter matches, as Docker
// 1.7's State.StateString: "running", "paused", "restarting" or "exited"
// (a container that never ran counts as exited in 1.7).
func (s State) StateString() string {
	switch {
	case s.Running && s.Paused:
		return "paused"
	case s.Running && s.Restarting:
		return "restarting"
	case s.Running:
		return "running"
	case s.Dead:
		return "dead"
	}
	return "exited"
}

// SetRunning records a start.
func (s *State) SetRunning(pid int, at time.Time) {
	s.Running, s.Paused, s.Restarting = true, false, false
	s.OOMKilled = false
	s.Error = ""
	s.Pid = pid
	s.ExitCode = 0
	s.StartedAt = at.UTC()
}

// SetStopped records an exit.
func (s *State) SetStopped(code int, oom bool, errMsg string, at time.Time) {
	s.Running, s.Paused, s.Restarting = false, false, false
	s.Pid = 0
	s.ExitCode = code
	s.OOMKilled = oom
	s.Error = errMsg
	if at.IsZero() {
		at = time.Now()
	}
	s.FinishedAt = at.UTC()
}

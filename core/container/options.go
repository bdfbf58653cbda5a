package container

import (
	"io"
	"time"
)

// ListOptions are GET /containers/json's parameters.
type ListOptions struct {
	// All includes containers that are not running.
	All bool
	// Limit keeps the n newest (any state); 0 or less means no limit.
	Limit int
	// Since and Before keep the containers created after or before the
	// one they name (any state).
	Since, Before string
	// Size computes SizeRw and SizeRootFs.
	Size bool
	// Filters: "status" (running, paused, restarting, exited), "exited"
	// (an exit code), "id", "name", "label" (key or key=value).
	Filters map[string][]string
}

// Summary is one container of the list.
type Summary struct {
	ID         string
	Names      []string
	Image      string
	Command    string
	Created    time.Time
	Status     string
	Labels     map[string]string
	SizeRw     int64
	SizeRootFs int64
}

// Streams are where a container's output goes, chosen once the daemon
// knows whether the container has a terminal: with one the output is raw,
// without one the API multiplexes it (remote_api_v1.19.md, Attach "Stream
// details").
type Streams struct {
	// Stdin is the client's input (nil when not attached); EOF means the
	// client closed its side.
	Stdin io.Reader
	// Stdout and Stderr receive the container's output (nil when not
	// asked for; with a terminal all output is Stdout).
	Stdout, Stderr io.Writer
}

// LogsOptions are GET /containers/{id}/logs's parameters.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Timestamps     bool
	// Tail is the number of last lines to send; negative means all.
	Tail int
	// Since drops records older than this time (zero: none).
	Since time.Time
	// Streams is called once the container is found, before any output;
	// an error from it ends the call.
	Streams func(tty bool) (Streams, error)
}

// AttachOptions are POST /containers/{id}/attach's parameters.
type AttachOptions struct {
	Logs, Stream          bool
	Stdin, Stdout, Stderr bool
	// Streams is called once the container is found (so an unknown
	// container is still a plain 404), before any output.
	Streams func(tty bool) (Streams, error)
}

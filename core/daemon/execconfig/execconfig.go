// Package execconfig holds the shapes of docker exec that the daemon's
// container service and the API's containers router share: what POST
// /containers/{id}/exec asks for, how POST /exec/{id}/start streams, and
// what GET /exec/{id}/json reports. It holds data only: no behaviour, no
// I/O.
package execconfig

import "github.com/pluggd/pluggd/core/container"

// Config is POST /containers/{id}/exec's body (Docker 1.7's
// runconfig.ExecConfig; Container and Detach are not kept).
type Config struct {
	AttachStdin, AttachStdout, AttachStderr bool
	Tty                                     bool
	Cmd                                     []string
	// User is a name or uid with an optional ":group"; "" is the
	// container's Config.User, as Docker 1.7 chose.
	User       string
	Privileged bool
}

// StartOptions are POST /exec/{id}/start's.
type StartOptions struct {
	// Detach starts the process with its output dropped and returns.
	Detach bool
	// Streams is called, unless Detach, once the process runs (so an
	// unknown exec or a missing program is still a plain error answer)
	// and before any output; the API hijacks the connection there.
	Streams func() (container.Streams, error)
}

// Inspect is what GET /exec/{id}/json reports (Docker 1.7's execConfig).
type Inspect struct {
	ID       string
	Running  bool
	ExitCode int
	// Process is ProcessConfig: Entrypoint and Arguments are Cmd split
	// at its first element.
	Privileged bool
	User       string
	Tty        bool
	Entrypoint string
	Arguments  []string

	OpenStdin, OpenStdout, OpenStderr bool
	// Container is the record of the exec's container at the time of the
	// request.
	Container container.Record
}

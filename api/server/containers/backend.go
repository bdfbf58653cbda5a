package containers

import (
	"context"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/daemon/execconfig"
)

// Backend is what this router needs from the daemon;
// *daemon.Containers implements it.
type Backend interface {
	Create(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig) (string, []string, error)
	Inspect(ctx context.Context, ref string) (*container.Record, error)
	List(ctx context.Context, opts container.ListOptions) ([]container.Summary, error)
	Start(ctx context.Context, ref string, hc *container.HostConfig) error
	Stop(ctx context.Context, ref string, timeout time.Duration) error
	Kill(ctx context.Context, ref string, sig syscall.Signal) error
	Wait(ctx context.Context, ref string) (int, error)
	// Remove deletes the container; announce logs its destroy event and
	// is called once the client has the answer.
	Remove(ctx context.Context, ref string, force, volumes bool) (announce func(), err error)
	Resize(ctx context.Context, ref string, height, width int) error
	Pause(ctx context.Context, ref string) error
	Unpause(ctx context.Context, ref string) error
	Stats(ctx context.Context, ref string) (container.Stats, error)
	Logs(ctx context.Context, ref string, opts container.LogsOptions) error
	Attach(ctx context.Context, ref string, opts container.AttachOptions) error

	// ExecIDs lists a container's exec instances (inspect's ExecIDs).
	ExecIDs(ctx context.Context, id string) []string
	ExecCreate(ctx context.Context, ref string, cfg execconfig.Config) (string, error)
	ExecStart(ctx context.Context, id string, opts execconfig.StartOptions) error
	ExecResize(ctx context.Context, id string, height, width int) error
	ExecInspect(ctx context.Context, id string) (*execconfig.Inspect, error)
}

package system

import (
	"context"

	"github.com/pluggd/pluggd/api/types"
)

// Backend is what the system routes need from the daemon.
type Backend interface {
	// SystemInfo gathers /info's values, v1.19 shape, read fresh from the
	// host and the drivers.
	SystemInfo(ctx context.Context) (*types.Info, error)
	// SystemVersion returns /version's values, v1.19 shape.
	SystemVersion(ctx context.Context) (*types.Version, error)
}

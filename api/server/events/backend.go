package events

import (
	"context"

	"github.com/pluggd/pluggd/core/events"
)

// Backend is what the events route needs; *events.Log implements it.
type Backend interface {
	// Subscribe returns the buffered events f asks to replay and a channel
	// of the live ones, closed when ctx ends or at f.Until.
	Subscribe(ctx context.Context, f events.Filter) (past []events.Event, ch <-chan events.Event)
}

package events_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pluggd/pluggd/core/events"
)

// A daemon logs events as they happen; an /events client that passes since
// gets the buffered ones first, then the live ones.
func Example() {
	log := events.New(events.Options{})
	log.Log("create", "4c01db0b339c", "busybox")
	log.Log("start", "4c01db0b339c", "busybox")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	past, live := log.Subscribe(ctx, events.Filter{Since: time.Unix(0, 0), Event: []string{"start", "die"}})
	for _, ev := range past {
		fmt.Println("past:", ev.Status, ev.ID)
	}
	log.Log("die", "4c01db0b339c", "busybox")
	ev := <-live
	fmt.Println("live:", ev.Status, ev.ID)
	// Output:
	// past: start 4c01db0b339c
	// live: die 4c01db0b339c
}

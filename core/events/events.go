package events

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// BufferSize is how many past events a Log keeps for replay (Docker 1.7's
// events service kept the last 64).
const BufferSize = 64

// DefaultQueue is the per-subscriber queue length when Options.Queue is 0.
// It is larger than BufferSize so that a client replaying the whole buffer
// while the daemon is busy still gets every live event.
const DefaultQueue = 256

// Event is one thing that happened, in Docker 1.7's terms.
type Event struct {
	// Status is the event's name: "create", "die", "untag", ...
	Status string
	// ID is the full container id, or for image events the image id or
	// reference (DOCKER17.md §6).
	ID string
	// From is the image a container was created from, as the client named
	// it; empty for image events.
	From string
	// Time is when the event was logged, in unix seconds (the v1.19 "time").
	Time int64
	// Attributes are details beyond Docker 1.7's four fields, set on a few
	// events only ("exitCode" on die). The router decides whether clients
	// see them.
	Attributes map[string]string
}

// Options configure a Log.
type Options struct {
	// ResolveContainer turns a container filter value (a name or an id
	// prefix) into the full id. Nil, or false returned, leaves the value as
	// is, so it then matches only an exact full id.
	ResolveContainer func(ref string) (id string, ok bool)
	// Queue is each subscriber's queue length; 0 means DefaultQueue.
	Queue int
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// Logger is told, at debug level, when a subscriber loses an event.
	// Nil discards.
	Logger *slog.Logger
}

// Log records events, keeps the last BufferSize of them and fans them out
// to subscribers. It is safe for concurrent use.
type Log struct {
	opts Options

	mu     sync.Mutex
	ring   [BufferSize]Event
	next   int // index in ring of the next event
	count  int // events in ring, up to BufferSize
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	filter  Filter
	ch      chan Event
	done    chan struct{} // closed with ch, ends the subscription's goroutine
	dropped int
}

// New returns an empty Log.
func New(opts Options) *Log {
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Log{opts: opts, subs: map[*subscriber]struct{}{}}
}

// Log records an event stamped with the current time and hands it to every
// subscriber whose filter it passes. It never blocks on a subscriber.
func (l *Log) Log(status, id, from string) {
	l.LogAttributes(status, id, from, nil)
}

// LogAttributes is Log with attributes (see Event.Attributes).
func (l *Log) LogAttributes(status, id, from string, attrs map[string]string) {
	ev := Event{Status: status, ID: id, From: from, Time: l.opts.Now().Unix(), Attributes: attrs}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = ev
	l.next = (l.next + 1) % BufferSize
	l.count = min(l.count+1, BufferSize)
	for s := range l.subs {
		if !s.filter.Match(ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			// The subscriber is too slow; dropping keeps the daemon
			// going, as Docker's 100 ms send timeout did.
			s.dropped++
			l.opts.Logger.Debug("events: subscriber queue full, event dropped", "status", status, "id", id, "dropped", s.dropped)
		}
	}
}

// Subscribers returns how many subscriptions are open (/info's
// NEventsListener). A nil Log has none, so a daemon put together without
// one (in tests) still answers /info.
func (l *Log) Subscribers() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}

// Subscribe returns the buffered events that pass f and, when f.Since is
// set, happened at or after it and not after f.Until (oldest first), and a channel of the later
// events that pass f. Past and live events neither overlap nor leave a gap.
//
// The channel is closed when ctx ends, when f.Until passes (at once if it
// already has), or when the Log is closed. Without f.Since nothing is
// replayed, as in Docker 1.7.
func (l *Log) Subscribe(ctx context.Context, f Filter) (past []Event, ch <-chan Event) {
	f = f.resolve(l.opts.ResolveContainer)
	s := &subscriber{filter: f, ch: make(chan Event, l.opts.Queue), done: make(chan struct{})}

	l.mu.Lock()
	if !f.Since.IsZero() {
		for i := range l.count {
			ev := l.ring[(l.next-l.count+i+BufferSize)%BufferSize]
			if ev.Time >= f.Since.Unix() && (f.Until.IsZero() || ev.Time <= f.Until.Unix()) && f.Match(ev) {
				past = append(past, ev)
			}
		}
	}
	var timer *time.Timer
	ended := l.closed || ctx.Err() != nil
	if !ended && !f.Until.IsZero() {
		// Docker 1.7 stopped streaming at until itself.
		d := f.Until.Sub(l.opts.Now())
		if d <= 0 {
			ended = true
		} else {
			timer = time.NewTimer(d)
		}
	}
	if ended {
		l.mu.Unlock()
		close(s.ch)
		return past, s.ch
	}
	l.subs[s] = struct{}{}
	l.mu.Unlock()

	// The goroutine's owner is the caller: it ends with ctx, or earlier at
	// Until or Close.
	go func() {
		var stop <-chan time.Time
		if timer != nil {
			defer timer.Stop()
			stop = timer.C
		}
		select {
		case <-ctx.Done():
		case <-stop:
		case <-s.done:
			return
		}
		l.unsubscribe(s)
	}()
	return past, s.ch
}

// unsubscribe removes s and closes its channel, once.
func (l *Log) unsubscribe(s *subscriber) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.subs[s]; !ok {
		return
	}
	delete(l.subs, s)
	close(s.ch)
	close(s.done)
}

// Close ends every subscription (their channels close) and makes later
// ones end at once; logging still works. The daemon calls it at shutdown
// so that /events streams finish instead of holding the server's grace
// period.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for s := range l.subs {
		delete(l.subs, s)
		close(s.ch)
		close(s.done)
	}
}

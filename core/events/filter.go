package events

import (
	"strings"
	"time"
)

// Filter selects events for a subscriber. Within a key, values are
// alternatives; keys combine with "and"; an empty key matches everything
// (Docker 1.7's getEvents).
type Filter struct {
	// Since, when set, asks for the buffered events logged at or after it
	// (seconds granularity). Zero: live events only.
	Since time.Time
	// Until, when set, ends the subscription at that time; buffered
	// events after it are not replayed.
	Until time.Time
	// Event are statuses, compared whole: "exec_create: sh" is not
	// "exec_create", as in Docker 1.7.
	Event []string
	// Image are image names or ids. An event matches on its From, or for
	// image events (no From) on its ID; "repo" also matches "repo:tag".
	Image []string
	// Container are names, ids or id prefixes, turned into full ids by
	// Options.ResolveContainer when the subscription starts.
	Container []string
}

// resolve returns a copy of f whose container values are full ids where
// the resolver knows them.
func (f Filter) resolve(lookup func(string) (string, bool)) Filter {
	if lookup == nil || len(f.Container) == 0 {
		return f
	}
	ids := make([]string, len(f.Container))
	for i, ref := range f.Container {
		ids[i] = ref
		if id, ok := lookup(ref); ok {
			ids[i] = id
		}
	}
	f.Container = ids
	return f
}

// Match reports whether ev passes the filter's event, image and container
// keys (Since and Until are not about single events).
func (f Filter) Match(ev Event) bool {
	if len(f.Event) > 0 && !contains(f.Event, ev.Status) {
		return false
	}
	if len(f.Container) > 0 && !contains(f.Container, ev.ID) {
		return false
	}
	if len(f.Image) > 0 {
		subject := ev.From
		if subject == "" {
			subject = ev.ID
		}
		if !contains(f.Image, subject) && !contains(f.Image, repository(subject)) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// repository strips a tag or digest from an image reference:
// "localhost:5000/busybox:1" → "localhost:5000/busybox". A registry port is
// not a tag (Docker 1.7 split on the first colon and got this wrong).
func repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		return ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i]
	}
	return ref
}

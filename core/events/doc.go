// Package events is the daemon's event log (GET /events, DOCKER17.md §6):
// the daemon records what happened to containers and images, the log keeps
// the last 64 events and hands them, and every later one, to subscribers.
//
// A Log belongs to one daemon; there is no package-level log. Recording
// never blocks: a subscriber that does not keep up loses events (Docker 1.7
// dropped an event for a listener slower than 100 ms; here each subscriber
// has a bounded queue and an event that finds it full is dropped), so a
// stuck /events client cannot stall a container's exit or an rmi.
//
// The package speaks no HTTP and knows no wire format: the router in
// api/server/events encodes events for clients. It must not learn about
// containers or images either: the daemon gives it a callback to resolve
// container names.
package events

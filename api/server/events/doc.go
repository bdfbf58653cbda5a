// Package events serves GET /events (remote_api_v1.19.md "Monitor Docker's
// events"): the daemon's event log as a stream of JSON objects, one a line,
// each flushed as it comes.
//
// The response headers are flushed before any event: Docker 1.7 sent
// nothing until something happened, but today's docker CLI waits for the
// headers before it starts a container it runs (it watches /events for the
// die), so a silent stream would hang `docker run`.
//
// It keeps no state and decides nothing about which events exist: the
// Backend (core/events.Log, owned by the daemon) records, buffers and
// filters them.
package events

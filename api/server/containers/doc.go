// Package containers is the router of the container endpoints of the
// Remote API: create, list, inspect, start, stop, restart, kill, wait,
// remove, resize, logs and attach.
//
// It decodes requests, calls a Backend (core/daemon.Containers) and shapes
// the answers for the API version a request asked for, with the wire
// structs of api/types. Errors go, classified with core/errdefs, to the
// server's one error handler, until a stream has begun: attach hijacks the
// connection and logs streams its body, and from then on errors can only
// end the stream. It holds no container logic.
package containers

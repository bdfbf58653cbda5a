// Package pluginrpc is what every kind of pluggd plugin shares on the wire:
// go-plugin's handshake configuration, the application-level version
// negotiation (gRPC service pluggd.plugin.v1.Negotiation), the translation of
// errdefs classes and contract sentinels to and from gRPC statuses, and the
// process hygiene of a plugin binary (stdout reserved for the handshake,
// logs to stderr, exit when the daemon dies).
//
// The glue of each driver kind (core/driver/storage/plugin,
// core/driver/exec/plugin) builds on it. It knows no driver contract and must
// not import one: kinds pass their sentinels in.
package pluginrpc

// Package plugin is the go-plugin glue of the storage driver contract
// (core/driver/storage): the gRPC wire form pluggd.storage.v1 (proto/), the
// server that exposes a storage.Driver on it (plugin side), the client that
// implements storage.Driver over it (daemon side), and Serve, the one call
// a storage plugin's main makes.
//
// The daemon's side of process management (starting, health, relaunch)
// is not here but in core/driver's Host; this package only knows one
// connection. NewInProcess runs a driver through the real gRPC code without
// a subprocess, for the conformance suite.
//
// Errors cross the wire exactly once, here: the server turns a driver's
// error into a gRPC status (pluginrpc.ToStatus), the client turns it back
// (pluginrpc.FromStatus), keeping the message, the errdefs class and the
// storage sentinel.
package plugin

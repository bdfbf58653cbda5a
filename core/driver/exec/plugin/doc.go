// Package plugin is the go-plugin glue of the execution driver contract
// (core/driver/exec): the gRPC wire form pluggd.exec.v1 (proto/), the
// server that exposes an exec.Driver on it (plugin side), the client that
// implements exec.Driver over it (daemon side), and Serve, the call an exec
// plugin's main makes once it has dispatched its own subcommands.
//
// Only the control plane crosses this wire; every call is unary. Container
// stdio and exit statuses travel between the daemon and each container's
// supervisor directly (core/driver/exec/supervisor), never through here, so
// a dead or relaunching driver process does not cut an attached client off.
//
// The daemon's side of process management (starting, health, relaunch) is
// not here but in core/driver's Host; this package only knows one
// connection. NewInProcess runs a driver through the real gRPC code without
// a subprocess, for the conformance suite.
//
// Errors cross the wire exactly once, here: the server turns a driver's
// error into a gRPC status (pluginrpc.ToStatus), the client turns it back
// (pluginrpc.FromStatus), keeping the message and the errdefs class.
package plugin

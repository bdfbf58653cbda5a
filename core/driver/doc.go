// Package driver is the daemon's host for driver plugins: it starts each
// configured plugin binary with go-plugin, negotiates the contract version,
// initialises the driver, watches the process (exit detection and a
// periodic gRPC health check), relaunches a plugin that died and turns
// calls that could not reach a plugin into ErrUnavailable errors.
//
// The contracts themselves live in the subpackages (storage, exec), the
// wire glue in their plugin subpackages and in pluginrpc. This package is
// the only part of the daemon that manages plugin processes; nothing else
// in core may import go-plugin.
package driver

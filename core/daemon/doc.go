// Package daemon is pluggd's core process: it takes the root and pidfile
// locks, starts the storage driver plugin, opens the image store and
// answers the system routes' questions (/info, /version) from the host and
// the drivers.
//
// It knows nothing of HTTP: cmd/pluggd builds the API server and hands it
// the daemon as the routers' backends. It talks to drivers only through the
// plugin host in core/driver, never to a driver in-process.
package daemon

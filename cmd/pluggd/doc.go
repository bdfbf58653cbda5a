// Command pluggd is the daemon: it reads the configuration, starts the core
// (locks, storage plugin, image store), wires the API routers to it and
// serves until SIGTERM or SIGINT, then shuts down in reverse order.
//
// All wiring is explicit here; no package registers itself.
package main

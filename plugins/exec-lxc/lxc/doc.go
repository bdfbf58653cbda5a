// Package lxc is pluggd's LXC execution driver: it translates an
// exec.ContainerSpec into an LXC 5 configuration file and runs the
// container with LXC's own command-line tools (lxc-start, ...), each
// container under a supervisor of package core/driver/exec/supervisor.
//
// It also carries Docker 1.7's HostConfig.LxcConf forward: keys of the
// LXC 1.x era are renamed to their LXC 5 names (keys.go), and a key LXC 5
// does not know is an InvalidParameter error naming it, never passed on
// for lxc-start to reject at run time.
//
// This package must not link liblxc (no cgo): LXC's tools are the
// interface, so the plugin builds and its pure parts test on hosts
// without LXC.
package lxc

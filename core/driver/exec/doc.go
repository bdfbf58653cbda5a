// Package exec is the public contract between pluggd and a container
// execution driver, version 1.
//
// It is written for someone implementing a driver outside this repository.
// An execution driver turns a ContainerSpec (a root filesystem already
// mounted by the storage driver, a process to run, namespaces, cgroup limits,
// capabilities, mounts) into a running container, and reports on it.
//
// # Two planes: the driver and the supervisors
//
// Containers must outlive the driver process and the daemon. A driver
// therefore runs each container under a small supervisor process of its own
// (in its own session, a child subreaper, the parent of the container's init
// process), which holds the container's stdio, writes its json-file log and
// records its exit status. The driver process is only the control
// plane (Create, Start, Signal, State, Restore, Delete, ...); it may be
// killed and relaunched at any time, and Restore then finds its containers
// again.
//
// The data plane never crosses the driver process: the daemon talks to each
// supervisor directly over the unix socket named in State.Supervisor, with
// the protocol of package core/driver/exec/supervisor (attach to stdio,
// resize the terminal, wait for the exit status), for the container's
// init and for its exec processes (Execer) alike. A driver gets a conforming
// supervisor by building it with that package and supplying a Runtime (how
// to create and start the container's process); it should not implement the
// protocol itself. Container stdio therefore never travels over a plugin's
// stdout or in gRPC messages.
//
// # Lifecycle
//
//	Create   the supervisor runs, the container exists (namespaces, rootfs,
//	         cgroups) and its init waits before executing the program; the
//	         daemon now connects clients that attached early (docker run
//	         attaches before it starts), so no output is lost
//	Start    the program runs
//	(exit)   the supervisor records the status; Wait on its socket returns
//	Delete   driver state removed (the supervisor has exited by then)
//
// # Capabilities
//
// Optional behaviours (pause, stats, LXC configuration, exec, ...) are declared in
// Capabilities. The daemon decides by these flags, never by the driver's
// name, and answers a client's request for a missing capability with a
// clear error instead of calling the driver.
//
// # Versions
//
// v1.0 is the Driver interface. v1.1 added Execer (docker exec) and
// Capabilities.Exec; minor versions only add, so a v1.0 driver runs under
// a v1.1 daemon without exec.
//
// This package imports only the standard library and core/errdefs.
package exec

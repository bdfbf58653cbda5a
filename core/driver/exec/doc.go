// Package exec is the public contract between pluggd and a container
// execution driver, version 1.
//
// It is written for someone implementing a driver outside this repository.
// An execution driver turns a ContainerSpec (a root filesystem already
// mounted by the storage driver, a process to run, namespaces, cgroup limits,
// capabilities, mounts) into a running container, and reports on it.
//
// Status: the Go contract is defined here; the wire form (package
// pluggd.exec.v1 served through hashicorp/go-plugin, like the storage
// contract) and the first driver (exec-native) arrive with the container
// lifecycle. Until then the daemon runs without an execution driver and
// /info's ExecutionDriver is empty.
//
// # Supervisors and stdio
//
// Containers must outlive the driver process and the daemon. A driver
// therefore starts each container under a small supervisor process of its
// own (in its own session, a child subreaper) that holds the container's
// stdio and records its exit status durably. Container stdio never travels
// over the plugin connection: the daemon passes the paths of FIFOs it
// created (Stdio), and the supervisor opens them. The driver's process may
// be killed and relaunched at any time; Restore then finds its containers
// again.
//
// # Capabilities
//
// Optional behaviours (pause, exec, stats, LXC configuration, ...) are
// declared in Capabilities. The daemon decides by these flags, never by the
// driver's name, and answers a client's request for a missing capability
// with a clear error instead of calling the driver.
//
// This package imports only the standard library and core/errdefs.
package exec

// Package native is pluggd's native execution driver: containers made by
// runc's libcontainer (namespaces, cgroups through libcontainer's fs
// manager, pivot_root, capabilities, masked and read-only paths), with
// Docker 1.7's native template as the defaults.
//
// It has two halves in two kinds of process:
//
//   - Driver (New) is the control plane, in the plugin process. It keeps
//     no state in memory: each container has a directory under the
//     driver's root, named by the first 12 characters of its id, holding
//     the spec (container.json), the supervisor's files and libcontainer's
//     state (lc/<id>/). Create spawns the supervisor (this binary,
//     "supervise <dir>"); Signal, Pause, Resume and Stats load the
//     container from libcontainer's state; State and Restore read the
//     supervisor's files.
//   - Runtime is the supervisor.Runtime, in each container's supervisor:
//     libcontainer Create and Start (the init then waits on the exec fifo),
//     Exec on Start, OOM detection on exit, Destroy.
//
// The package must not keep a container's processes tied to the plugin
// process: the plugin may be killed and relaunched at any time.
package native

// Package supervisor is the per-container supervisor every execution driver
// runs its containers under, and the protocol the daemon speaks to it.
//
// It is part of the exec contract's SDK: a driver author builds the
// supervisor from this package and a Runtime (how to create and start the
// container's process), and gets, for free, what the daemon relies on:
//
//   - its own session, child subreaper, parent of the container's init (so
//     it reaps the init and its orphans and sees the real exit status);
//   - the container's stdio: pipes, or a pseudo-terminal whose master the
//     Runtime hands over, copied to the json-file log (core/jsonlog format,
//     Docker 1.7's) and to attached clients;
//   - the exit status recorded (written and renamed) in the state
//     directory before anyone is told, and fsynced after, so that no
//     waiter waits on a busy disk;
//   - a unix socket speaking the protocol below, so the daemon reaches the
//     container's stdio and exit status without going through the driver
//     process, which may be dead or relaunching;
//   - an identity record (pid, process start time, boot id) that lets a
//     restarted driver or daemon tell a live supervisor from a reused pid.
//
// The supervisor outlives the driver process and the daemon. It exits once
// the container has exited, the status is recorded and attached clients
// have received all output. If the supervisor itself is killed, the
// container's init dies with it (the Runtime sets the init's parent-death
// signal to SIGKILL), so no container runs unsupervised.
//
// # Driver side
//
//	Spawn(ctx, SpawnOptions) (*Handle, error)   // in the driver: start a supervisor (setsid, no pdeathsig), wait until
//	                                            // Runtime.Create succeeded or failed; the failure comes back as the error
//	Main(ctx, rt Runtime) int                   // in the spawned process (the driver binary re-executed): serve until done
//	ReadState(stateDir string) (exec.State, error) // what a (re)started driver reports: identity-checked liveness,
//	                                            // recorded exit status, or "supervisor died" when neither
//	LoadConfig(stateDir string) (Config, error) // the Config Spawn wrote, for a Runtime that needs it
//
// Spawn passes the state directory to Main in the environment (EnvStateDir)
// and a sync pipe as descriptor 3 (EnvSyncFd); the driver's main only has
// to recognise its own supervise subcommand and call Main. The state
// directory holds supervisor.json (Config), identity.json (pid, start time,
// boot id), status.json (created or running, init pid), exit.json (written,
// fsynced and renamed before any waiter is told) and the socket.
//
// Runtime authors: read Runtime's documentation on reaping. In short, the
// supervisor reaps nothing while Create or Start runs, and reaps every child
// itself (wait4(-1)) at all other times; the init's status reaches the
// Runtime through Exited.
//
// # Daemon side
//
//	Dial(ctx, socket string) (*Client, error)
//	(*Client).Info(ctx) (Info, error)           // container id, pids, status, identity
//	(*Client).Start(ctx) error                  // used by drivers' Start: execute the program
//	(*Client).Signal(ctx, syscall.Signal) error // used by drivers' Signal: no pid-reuse race
//	(*Client).Attach(ctx, AttachOptions) (*Attachment, error)
//	(*Client).Resize(ctx, width, height uint16) error
//	(*Client).Wait(ctx) (exec.ExitStatus, time.Time, error) // blocks until exit and all output is logged
//	(*Client).Exec(ctx, exec.ExecSpec) (ExecInfo, error)   // used by drivers' Exec (ExecIn): start an exec process
//	(*Client).AttachExec, ResizeExec, WaitExec, ExecInfo    // the same for an exec process, by exec id
//
// # Wire protocol, version 1
//
// One request per connection on a unix stream socket (mode 0600, in the
// driver's state directory). The client writes one JSON line
// {"version":1,"op":"info"|"start"|"signal"|"attach"|"resize"|"wait", ...}
// ("signal" carries "signal":N, "resize" "width" and "height", "attach"
// the booleans "stdin", "stdout", "stderr"); the supervisor answers one
// JSON line {"version":1, ...}: {"error":"...","class":N} (N an errdefs
// class) or the op's result ("info":{...}, "exit":{"code","oom_killed",
// "error","finished_at"}). Each side refuses a peer whose version differs,
// with an error naming both versions.
//
// Exec processes (exec contract v1.1) added ops without changing the
// version, since an older supervisor refuses an op it does not know:
// "exec" carries "exec_spec":{"id","args","env","cwd","user","terminal",
// "open_stdin","stdin_once","console_width","console_height","privileged",
// "attached"} and answers "exec_info":{"id","pid","running",...};
// "exec-attach", "exec-resize", "exec-wait" and "exec-info" carry
// "exec":"<exec id>" and otherwise work as "attach", "resize", "wait"
// and "info" do for the container. An "attached" exec's output is not
// read until its first exec-attach; a detached one's is read and dropped.
// Exec output is not logged.
//
// After a successful "attach" answer the connection carries frames in
// Docker's multiplexed format both ways: an 8-byte header [stream, 0, 0, 0,
// big-endian uint32 length] and the payload (at most 1 MiB). Client to
// supervisor: stream 0 is stdin data (ignored without OpenStdin), and a
// zero-length stream-0 frame ends this client's stdin; with StdinOnce the
// first client whose stdin ends (by that frame or by going away) closes the
// container's stdin (not with a terminal, as in Docker 1.7). Supervisor to
// client: stream 1 stdout, 2 stderr (a terminal's output is all stream 1),
// and, once the container's output ended and the status is recorded, a
// stream-3 frame holding the exit record as JSON, after which the
// supervisor shuts its side down. A client attached after the exit gets the
// stream-3 frame at once. Output is written to each client in turn as the
// container produces it: a client that does not read slows the container
// (as in Docker); one that went away is dropped.
//
// # Lifetime
//
// After the init exits the supervisor copies the remaining output (for at
// most 2 s once the init is gone, in case an orphan outside a pid namespace
// holds the pipe), records the status, calls Runtime.Destroy, waits (2 s)
// for the exec processes to be reaped and kills those that escaped the
// container's end, tells their clients, answers the container's waiters
// and attached clients, keeps the socket 200 ms for late waiters,
// removes it, and exits once clients have drained (at most 5 s).
package supervisor

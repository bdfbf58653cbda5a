package exectest

import (
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
	"strings"
)

func ttyChecks() []check {
	return []check{
		{name: "OutputOnStdout", run: needTty(checkTtyOutput)},
		{name: "EchoRoundTrip", run: needTty(checkTtyEcho)},
		{name: "Resize", run: needTty(checkTtyResize)},
		{name: "InterruptReachesProgram", run: needTty(checkTtyInterrupt)},
		{name: "NamedInside", run: needTty(checkTtyNamed)},
	}
}

func needTty(f func(h *harness)) func(h *harness) {
	return func(h *harness) {
		if !h.info.Capabilities.Tty {
			h.t.Skip("the driver does not report Capabilities.Tty")
		}
		f(h)
	}
}

// ttySpec is a spec whose process has a terminal and an open stdin, as
// docker run -it makes it.
func (h *harness) ttySpec(args ...string) exec.ContainerSpec {
	spec := h.spec(args...)
	spec.Process.Terminal = true
	spec.Process.OpenStdin = true
	return spec
}

// checkTtyOutput: with a terminal, stdout and stderr are the terminal,
// and everything arrives on the attachment's Stdout with the terminal's
// "\r\n" line ends.
func checkTtyOutput(h *harness) {
	spec := h.spec("sh", "-c", "test -t 0 && test -t 1 && test -t 2 && echo tty; echo err >&2")
	spec.Process.Terminal = true
	stdout, stderr, exit := h.output(spec)
	if stdout != "tty\r\nerr\r\n" {
		h.t.Errorf("terminal output %q, want %q", stdout, "tty\r\nerr\r\n")
	}
	if stderr != "" {
		h.t.Errorf("stderr %q with a terminal, want nothing", stderr)
	}
	if exit.Code != 0 {
		h.t.Errorf("exit %+v, want code 0", exit)
	}
}

// checkTtyEcho: what a client types is echoed by the terminal, read by
// the process, and ^D ends its input.
func checkTtyEcho(h *harness) {
	spec := h.ttySpec("cat")
	created := h.create(spec)
	s := h.attach(created.Supervisor, supervisor.AttachOptions{Stdin: true, Stdout: true})
	h.start(spec.ID)
	s.write([]byte("hello\n"))
	// The terminal's echo, then cat's copy.
	s.waitFor(s.stdout, "hello\r\nhello\r\n")
	s.write([]byte{4}) // ^D: end of file at the start of a line
	_, _, exit := s.finish()
	if exit.Code != 0 {
		h.t.Errorf("cat after ^D: exit %+v, want code 0", exit)
	}
}

// checkTtyResize: the terminal starts at the spec's size and follows
// Resize on the supervisor (docker run's initial size, then SIGWINCH-driven
// /resize calls).
func checkTtyResize(h *harness) {
	spec := h.ttySpec("sh", "-c", "stty size; read x; stty size; read x")
	spec.Process.ConsoleWidth, spec.Process.ConsoleHeight = 100, 30
	created := h.create(spec)
	s := h.attach(created.Supervisor, supervisor.AttachOptions{Stdin: true, Stdout: true})
	h.start(spec.ID)
	s.waitFor(s.stdout, "30 100\r\n")

	ctx, cancel := h.callCtx()
	defer cancel()
	if err := h.dial(created.Supervisor).Resize(ctx, 132, 43); err != nil {
		h.t.Fatalf("Resize: %v", err)
	}
	s.write([]byte("\n"))
	s.waitFor(s.stdout, "43 132\r\n")
	s.write([]byte("\n"))
	if _, _, exit := s.finish(); exit.Code != 0 {
		h.t.Errorf("exit %+v, want code 0", exit)
	}
}

// checkTtyInterrupt: the terminal is the program's controlling terminal,
// so ^C typed on it sends SIGINT to the program's process group (docker
// run -it, then ^C). A driver that only hands the terminal over as stdio
// fails here.
func checkTtyInterrupt(h *harness) {
	spec := h.ttySpec("sh", "-c", "trap 'echo got-INT; exit 5' INT; echo ready; while :; do sleep 0.1; done")
	created := h.create(spec)
	s := h.attach(created.Supervisor, supervisor.AttachOptions{Stdin: true, Stdout: true})
	h.start(spec.ID)
	s.waitFor(s.stdout, "ready\r\n")
	s.write([]byte{3}) // ^C
	s.waitFor(s.stdout, "got-INT\r\n")
	_, _, exit := s.finish()
	if exit.Code != 5 {
		h.t.Errorf("after ^C: exit %+v, want code 5 (the trap's)", exit)
	}
}

// checkTtyNamed: inside the container the terminal is a device of the
// container's own /dev (ttyname works: tty, ssh, sudo and screen need
// it), not a host terminal the container cannot name.
func checkTtyNamed(h *harness) {
	spec := h.spec("tty")
	spec.Process.Terminal = true
	stdout, _, exit := h.output(spec)
	name := strings.TrimSuffix(stdout, "\r\n")
	if exit.Code != 0 || !(strings.HasPrefix(name, "/dev/pts/") || name == "/dev/console") {
		h.t.Errorf("tty in the container printed %q, exit %+v; want /dev/pts/<n> or /dev/console, exit 0", stdout, exit)
	}
}

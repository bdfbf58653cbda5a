package exectest

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"

	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
)

func stdioChecks() []check {
	return []check{
		{name: "AttachBeforeStart", run: checkAttachBeforeStart},
		{name: "TwoAttachments", run: checkTwoAttachments},
		{name: "StdinBinaryRoundTrip", run: checkStdinBinary},
		{name: "LargeOutput", run: checkLargeOutput},
		{name: "NoOpenStdinIsEmpty", run: checkNoOpenStdin},
	}
}

// checkAttachBeforeStart: a client attached between Create and Start (as
// docker run attaches) sees all output, stdout and stderr apart.
func checkAttachBeforeStart(h *harness) {
	stdout, stderr, exit := h.output(h.spec("sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 7"))
	if stdout != "out1\nout2\n" {
		h.t.Errorf("stdout %q, want %q", stdout, "out1\nout2\n")
	}
	if stderr != "err1\nerr2\n" {
		h.t.Errorf("stderr %q, want %q", stderr, "err1\nerr2\n")
	}
	if exit.Code != 7 {
		h.t.Errorf("exit status %+v, want code 7", exit)
	}
}

// checkTwoAttachments: every attached client gets all of the output.
func checkTwoAttachments(h *harness) {
	spec := h.spec("sh", "-c", "seq 1 2000; echo done >&2")
	created := h.create(spec)
	opts := supervisor.AttachOptions{Stdout: true, Stderr: true}
	a, b := h.attach(created.Supervisor, opts), h.attach(created.Supervisor, opts)
	h.start(spec.ID)
	aout, aerr, _ := a.finish()
	bout, berr, _ := b.finish()
	want := seq(1, 2000)
	for name, got := range map[string][]byte{"first": aout, "second": bout} {
		if string(got) != want {
			h.t.Errorf("%s attachment: stdout of %d bytes differs from the %d expected (starts %q)", name, len(got), len(want), clip(got))
		}
	}
	if string(aerr) != "done\n" || string(berr) != "done\n" {
		h.t.Errorf("stderr of the attachments: %q and %q, want %q", aerr, berr, "done\n")
	}
}

// checkStdinBinary: bytes sent to stdin come back from cat unchanged:
// NUL, invalid UTF-8, lone CR, several MB (docker run -i with a pipe, so
// StdinOnce: stdin closes when the client's ends).
func checkStdinBinary(h *harness) {
	spec := h.spec("cat")
	spec.Process.OpenStdin = true
	spec.Process.StdinOnce = true
	created := h.create(spec)
	s := h.attach(created.Supervisor, supervisor.AttachOptions{Stdin: true, Stdout: true, Stderr: true})
	h.start(spec.ID)

	payload := append([]byte("\x00\xff\xfe\xc3\x28\r\n\x00"), make([]byte, 3<<20)...)
	rand.Read(payload[8:])
	payload = append(payload, 0, 0, 0xff)
	// Write while the output is read (the session's copiers), or both
	// directions would fill and stall.
	written := make(chan error, 1)
	go func() {
		_, err := s.a.Stdin.Write(payload)
		if err == nil {
			err = s.a.Stdin.Close()
		}
		written <- err
	}()
	stdout, stderr, exit := s.finish()
	if err := <-written; err != nil {
		h.t.Errorf("writing stdin: %v", err)
	}
	if !bytes.Equal(stdout, payload) {
		h.t.Errorf("cat returned %d bytes, not the %d sent (first difference at %d)", len(stdout), len(payload), firstDiff(stdout, payload))
	}
	if len(stderr) != 0 || exit.Code != 0 {
		h.t.Errorf("cat: stderr %q, exit %+v; want no stderr, code 0", clip(stderr), exit)
	}
}

// checkLargeOutput: megabytes on both streams arrive complete and apart.
func checkLargeOutput(h *harness) {
	spec := h.spec("sh", "-c", "cat /bin/busybox; cat /bin/busybox >&2; cat /bin/busybox")
	bin, err := os.ReadFile(filepath.Join(spec.Rootfs, "bin/busybox"))
	if err != nil {
		h.t.Fatal(err)
	}
	stdout, stderr, exit := h.output(spec)
	if want := string(bin) + string(bin); stdout != want {
		h.t.Errorf("stdout: %d bytes, want the %d of busybox twice (first difference at %d)", len(stdout), len(want), firstDiff([]byte(stdout), []byte(want)))
	}
	if stderr != string(bin) {
		h.t.Errorf("stderr: %d bytes, want the %d of busybox (first difference at %d)", len(stderr), len(bin), firstDiff([]byte(stderr), bin))
	}
	if exit.Code != 0 {
		h.t.Errorf("exit %+v, want code 0", exit)
	}
}

// checkNoOpenStdin: without OpenStdin the process's stdin is empty
// (/dev/null), so a reader ends at once.
func checkNoOpenStdin(h *harness) {
	stdout, _, exit := h.output(h.spec("sh", "-c", "cat; echo end"))
	if stdout != "end\n" || exit.Code != 0 {
		h.t.Errorf("cat without OpenStdin: stdout %q, exit %+v; want %q, code 0", stdout, exit, "end\n")
	}
}

// seq is what busybox seq from to prints.
func seq(from, to int) string {
	var b bytes.Buffer
	for i := from; i <= to; i++ {
		b.WriteString(itoa(i))
		b.WriteByte('\n')
	}
	return b.String()
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

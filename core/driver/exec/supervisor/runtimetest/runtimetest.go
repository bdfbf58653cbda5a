// Package runtimetest lets a driver's tests play the supervisor for their
// supervisor.Runtime, without spawning one: the test process creates the
// container with piped stdio (or a terminal), is the init's parent, reaps
// it and hands its status to Runtime.Exited, as supervisor.Main does. The
// cleanup kills, reaps and destroys what is left, also when the test
// failed midway.
//
// The test process must be able to reap the init: a Runtime must make it
// a child of the calling process (see supervisor.Runtime), and nothing
// else in the test may wait for all children.
package runtimetest

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
)

// Options shape the container's stdio.
type Options struct {
	// Terminal asks the Runtime for a pseudo-terminal of Width×Height;
	// its output arrives on Stdout.
	Terminal      bool
	Width, Height uint16
	// OpenStdin gives the program a pipe carrying Stdin, then closed.
	OpenStdin bool
	Stdin     string
	// AfterDestroy, when set, runs in the cleanup once Destroy returned:
	// the place to check that the Runtime left nothing behind.
	AfterDestroy func(t *testing.T)
}

// Run is one container created through a Runtime by the test.
type Run struct {
	t       *testing.T
	rt      supervisor.Runtime
	Created supervisor.Created
	// Stdout and Stderr each deliver everything the program wrote once
	// the stream ends (with a terminal, Stdout has it all; Stderr none).
	Stdout, Stderr chan string
	reaped         bool
}

// Create creates the container with rt and registers its cleanup. The
// error is Create's, for tests of what it refuses.
func Create(t *testing.T, rt supervisor.Runtime, opts Options) (*Run, error) {
	t.Helper()
	r := &Run{t: t, rt: rt, Stdout: make(chan string, 1), Stderr: make(chan string, 1)}
	var stdio supervisor.Stdio
	var childEnds []*os.File
	if opts.Terminal {
		stdio = supervisor.Stdio{Terminal: true, Width: opts.Width, Height: opts.Height}
	} else {
		outR, outW := pipe(t)
		errR, errW := pipe(t)
		stdio = supervisor.Stdio{Stdout: outW, Stderr: errW}
		childEnds = append(childEnds, outW, errW)
		if opts.OpenStdin {
			inR, inW := pipe(t)
			stdio.Stdin = inR
			childEnds = append(childEnds, inR)
			go func() {
				io.WriteString(inW, opts.Stdin)
				inW.Close()
			}()
		}
		go readAll(outR, r.Stdout)
		go readAll(errR, r.Stderr)
	}
	created, err := rt.Create(context.Background(), stdio)
	// As the supervisor does: the child's ends are the Runtime's now.
	for _, f := range childEnds {
		f.Close()
	}
	if err != nil {
		return nil, err
	}
	r.Created = created
	if created.Console != nil {
		go readAll(created.Console, r.Stdout)
		r.Stderr <- ""
	}
	t.Cleanup(func() {
		if !r.reaped {
			unix.Kill(created.Pid, unix.SIGKILL)
			r.Wait()
		}
		if err := rt.Destroy(context.Background()); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		if created.Console != nil {
			created.Console.Close()
		}
		if opts.AfterDestroy != nil {
			opts.AfterDestroy(t)
		}
	})
	return r, nil
}

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

func readAll(r io.ReadCloser, c chan<- string) {
	b, _ := io.ReadAll(r)
	r.Close()
	c <- string(b)
}

// Start starts the program, failing the test on error.
func (r *Run) Start() {
	r.t.Helper()
	if err := r.rt.Start(context.Background()); err != nil {
		r.t.Fatalf("Start: %v", err)
	}
}

// Wait reaps the init, as the supervisor does, and returns its status as
// the supervisor records it (Code 128+N for a signal, then Exited).
func (r *Run) Wait() exec.ExitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(r.Created.Pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			r.t.Fatalf("wait4: %v", err)
		}
		break
	}
	r.reaped = true
	st := exec.ExitStatus{Code: ws.ExitStatus()}
	if ws.Signaled() {
		st.Code = 128 + int(ws.Signal())
	}
	return r.rt.Exited(context.Background(), st)
}

// Output creates nothing: it starts the created container, waits for it
// and returns what it wrote and its status.
func (r *Run) Output() (stdout, stderr string, st exec.ExitStatus) {
	r.t.Helper()
	r.Start()
	st = r.Wait()
	return Recv(r.t, r.Stdout), Recv(r.t, r.Stderr), st
}

// Recv receives one stream's whole output, failing the test after 20 s.
func Recv(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("output did not end")
		return ""
	}
}

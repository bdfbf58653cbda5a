package supervisor

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/jsonlog"
)

// proc is a process whose stdio the supervisor holds and whose end it
// reports to attached clients: the container's init, or an exec process.
// Both are attached to, fed stdin, resized and waited for the same way.
type proc struct {
	terminal, openStdin, stdinOnce bool

	mu        sync.Mutex
	exit      *exitRecord // set once recorded, before done closes
	attachers map[*attacher]struct{}
	stdinDone bool // the first stdin client has ended

	stdinMu sync.Mutex
	stdin   *os.File // pipe write end or console master; nil when closed
	console *os.File

	// outputs are [stdout, stderr] read ends, or [console master, nil].
	outputs []*os.File
	copiers sync.WaitGroup
	// hold, when not nil, keeps the copiers from reading until it is
	// closed (release): an attached exec's output waits in its pipe for
	// the first client.
	hold        chan struct{}
	releaseOnce sync.Once

	done chan struct{} // exit recorded, attachers told
}

func newProc(terminal, openStdin, stdinOnce, held bool) *proc {
	p := &proc{
		terminal:  terminal,
		openStdin: openStdin,
		stdinOnce: stdinOnce,
		attachers: map[*attacher]struct{}{},
		done:      make(chan struct{}),
	}
	if held {
		p.hold = make(chan struct{})
	}
	return p
}

// makeStdio returns the Stdio for a Runtime and the supervisor's ends
// [stdin write, stdout read, stderr read] (nil where absent).
func (p *proc) makeStdio(width, height uint16) (Stdio, []*os.File, error) {
	if p.terminal {
		return Stdio{Terminal: true, Width: width, Height: height}, []*os.File{nil, nil, nil}, nil
	}
	var stdio Stdio
	ends := make([]*os.File, 3)
	closeAll := func() {
		closeFiles(ends)
		closeChildEnds(stdio)
	}
	var err error
	if p.openStdin {
		if stdio.Stdin, ends[0], err = os.Pipe(); err != nil {
			closeAll()
			return Stdio{}, nil, err
		}
	}
	if ends[1], stdio.Stdout, err = os.Pipe(); err != nil {
		closeAll()
		return Stdio{}, nil, err
	}
	if ends[2], stdio.Stderr, err = os.Pipe(); err != nil {
		closeAll()
		return Stdio{}, nil, err
	}
	return stdio, ends, nil
}

// closeChildEnds closes the supervisor's copies of what it gave the
// Runtime: the child owns them now.
func closeChildEnds(stdio Stdio) {
	closeFiles([]*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr})
}

// setStdio takes the supervisor's ends once the Runtime created the
// process: the pipes of makeStdio, or the terminal master.
func (p *proc) setStdio(ends []*os.File, console *os.File, width, height uint16) {
	if p.terminal {
		p.console = console
		p.stdin = console
		p.outputs = []*os.File{console, nil}
		if width > 0 && height > 0 {
			p.resize(width, height)
		}
		return
	}
	p.stdin = ends[0]
	p.outputs = ends[1:]
}

// closeFiles closes the files that are not nil.
func closeFiles(ends []*os.File) {
	for _, f := range ends {
		if f != nil {
			f.Close()
		}
	}
}

// startCopiers copies each output to the log (logw may be nil) and to
// the attached clients.
func (p *proc) startCopiers(logw *jsonlog.Writer) {
	for i, f := range p.outputs {
		if f == nil {
			continue
		}
		stream := byte(streamStdout + i)
		var sw *jsonlog.StreamWriter
		if logw != nil {
			sw = logw.Stream([]string{"stdout", "stderr"}[i])
		}
		p.copiers.Add(1)
		go func() {
			defer p.copiers.Done()
			if p.hold != nil {
				<-p.hold
			}
			p.copyOutput(f, stream, sw)
		}()
	}
}

// release lets held output flow.
func (p *proc) release() {
	if p.hold != nil {
		p.releaseOnce.Do(func() { close(p.hold) })
	}
}

// released is closed once held output may flow (at once when not held).
func (p *proc) released() <-chan struct{} {
	if p.hold == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.hold
}

// drainOutput is called once the process was reaped: it waits until
// every writer closed the outputs, or grace passed (an orphan outside a
// pid namespace may hold them), then closes them and the stdin.
func (p *proc) drainOutput(grace time.Duration) {
	outDone := make(chan struct{})
	go func() { p.copiers.Wait(); close(outDone) }()
	select {
	case <-outDone:
	case <-time.After(grace):
		// Closing the read ends unblocks the copiers (pipes and ptys are
		// in Go's poller); what an orphan writes later is lost.
		closeFiles(p.outputs)
		<-outDone
	}
	closeFiles(p.outputs)
	p.closeStdin()
}

// finish publishes the exit record: waiters are answered, and attached
// clients get the exit frame after all output.
func (p *proc) finish(rec exitRecord) {
	p.mu.Lock()
	p.exit = &rec
	atts := p.attacherList()
	p.mu.Unlock()
	close(p.done)
	for _, a := range atts {
		a.finish(rec)
	}
}

// exitRecord returns the recorded exit, or nil while the process runs.
func (p *proc) exitRecord() *exitRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exit == nil {
		return nil
	}
	rec := *p.exit
	return &rec
}

// copyOutput copies one output stream to the log and the attached clients
// until EOF. A terminal master reports EIO once the last slave descriptor
// closed, which is its end of file.
func (p *proc) copyOutput(f *os.File, stream byte, sw *jsonlog.StreamWriter) {
	buf := make([]byte, copyBuf)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if sw != nil {
				sw.Write(buf[:n])
			}
			p.broadcast(stream, buf[:n])
		}
		if err != nil {
			break
		}
	}
	if sw != nil {
		sw.Close()
	}
}

func (p *proc) broadcast(stream byte, b []byte) {
	p.mu.Lock()
	atts := p.attacherList()
	p.mu.Unlock()
	for _, a := range atts {
		if !a.wants(stream) {
			continue
		}
		if err := a.write(stream, b); err != nil {
			p.detach(a)
		}
	}
}

func (p *proc) attacherList() []*attacher {
	atts := make([]*attacher, 0, len(p.attachers))
	for a := range p.attachers {
		atts = append(atts, a)
	}
	return atts
}

func (p *proc) detach(a *attacher) {
	p.mu.Lock()
	delete(p.attachers, a)
	p.mu.Unlock()
	a.conn.Close()
}

// stdinEnded is called once for each client attached with stdin when its
// stdin ends (zero-length frame or gone): with StdinOnce the first one
// closes the process's stdin. With a terminal the stdin is the master
// itself and stays open, as in Docker 1.7.
func (p *proc) stdinEnded() {
	p.mu.Lock()
	first := !p.stdinDone
	p.stdinDone = true
	p.mu.Unlock()
	if first && p.stdinOnce && !p.terminal {
		p.closeStdin()
	}
}

func (p *proc) writeStdin(b []byte) {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil {
		// A process that does not read its stdin blocks its writers,
		// which is back-pressure on the client; one that exited gives
		// EPIPE, which drops the data.
		p.stdin.Write(b)
	}
}

func (p *proc) closeStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil && p.stdin != p.console {
		p.stdin.Close()
	}
	p.stdin = nil
}

func (p *proc) resize(width, height uint16) error {
	if p.console == nil {
		return nil
	}
	rc, err := p.console.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	// Control, not Fd: Fd would switch the master to blocking mode and
	// stop Close from interrupting the copier's Read.
	err = rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width})
	})
	if err != nil {
		return err
	}
	return ioErr
}

// attacher is one attached client.
type attacher struct {
	conn           net.Conn
	stdout, stderr bool
	mu             sync.Mutex // one frame at a time
	finished       bool
}

func (a *attacher) wants(stream byte) bool {
	return stream == streamStdout && a.stdout || stream == streamStderr && a.stderr
}

func (a *attacher) write(stream byte, p []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finished {
		return net.ErrClosed
	}
	return writeFrame(a.conn, stream, p)
}

// finish sends the exit frame and closes the connection for writing; the
// client closes its end when it has read everything.
func (a *attacher) finish(rec exitRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.finished {
		return
	}
	a.finished = true
	b, _ := json.Marshal(rec)
	writeFrame(a.conn, streamExit, b)
	if uc, ok := a.conn.(*net.UnixConn); ok {
		uc.CloseWrite()
	} else {
		a.conn.Close()
	}
}

// attach serves an attach request on conn for p (answer, then frames both
// ways) and owns conn from here.
func (p *proc) attach(conn *net.UnixConn, req request) {
	a := &attacher{conn: conn, stdout: req.Stdout, stderr: req.Stderr}
	withStdin := req.Stdin && p.openStdin
	if p.terminal {
		// A terminal's output is all one stream.
		a.stdout = a.stdout || a.stderr
		a.stderr = false
	}
	// Registered and answered under a.mu, so that no output frame can
	// precede the answer line.
	a.mu.Lock()
	p.mu.Lock()
	rec := p.exit
	if rec == nil {
		p.attachers[a] = struct{}{}
	}
	p.mu.Unlock()
	_, err := conn.Write(marshalLine(response{Version: ProtocolVersion}))
	a.mu.Unlock()
	if err != nil {
		p.detach(a)
		return
	}
	if rec != nil {
		a.finish(*rec)
	}
	// The first client sees held output from its beginning: it is
	// registered before the copiers start reading.
	p.release()
	// Read the client's frames: stdin data, the end of its stdin, and the
	// end of the connection (the client detached).
	stdinOpen := withStdin
	buf := make([]byte, 0, 4096)
	for {
		stream, n, err := readFrameHeader(conn)
		if err != nil {
			break
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		b := buf[:n]
		if _, err := io.ReadFull(conn, b); err != nil {
			break
		}
		if stream != streamStdin || !stdinOpen {
			continue
		}
		if n == 0 {
			stdinOpen = false
			p.stdinEnded()
			continue
		}
		p.writeStdin(b)
	}
	if stdinOpen {
		p.stdinEnded()
	}
	p.mu.Lock()
	_, attached := p.attachers[a]
	delete(p.attachers, a)
	p.mu.Unlock()
	if attached {
		// Detached before the end: nothing more to send.
		a.mu.Lock()
		a.finished = true
		a.mu.Unlock()
	}
	conn.Close()
}

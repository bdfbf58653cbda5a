package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// serve accepts connections until the listener is closed.
func (s *supervisor) serve(ctx context.Context, ln *net.UnixListener) {
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: back off instead of spinning.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.conns.Add(1)
		s.active.Add(1)
		go func() {
			defer s.conns.Done()
			defer s.active.Add(-1)
			s.handle(ctx, conn)
		}()
	}
}

func (s *supervisor) answer(conn net.Conn, resp response) error {
	resp.Version = ProtocolVersion
	_, err := conn.Write(marshalLine(resp))
	return err
}

func (s *supervisor) handle(ctx context.Context, conn *net.UnixConn) {
	line, err := readLine(conn, 64<<10)
	if err != nil {
		conn.Close()
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		s.answer(conn, errorResponse(errdefs.InvalidParameter(fmt.Errorf("supervisor protocol: bad request: %w", err))))
		conn.Close()
		return
	}
	if req.Version != ProtocolVersion {
		s.answer(conn, errorResponse(versionError("the client", req.Version)))
		conn.Close()
		return
	}
	if req.Op == opAttach {
		s.attach(conn, req) // owns conn from here
		return
	}
	defer conn.Close()
	switch req.Op {
	case opInfo:
		info := s.info()
		s.answer(conn, response{Info: &info})
	case opStart:
		if err := s.start(ctx); err != nil {
			s.answer(conn, errorResponse(err))
			return
		}
		s.answer(conn, response{})
	case opSignal:
		if err := s.signal(syscall.Signal(req.Signal)); err != nil {
			s.answer(conn, errorResponse(err))
			return
		}
		s.answer(conn, response{})
	case opResize:
		if err := s.resize(req.Width, req.Height); err != nil {
			s.answer(conn, errorResponse(fmt.Errorf("resize terminal: %w", err)))
			return
		}
		s.answer(conn, response{})
	case opWait:
		// A client that goes away stops waiting: its connection reads EOF.
		gone := make(chan struct{})
		go func() {
			var b [1]byte
			conn.Read(b[:])
			close(gone)
		}()
		select {
		case <-s.done:
			s.mu.Lock()
			rec := *s.exit
			s.mu.Unlock()
			if s.answer(conn, response{Exit: &rec}) == nil {
				s.waitAnswered.Store(true)
			}
		case <-gone:
		}
	default:
		s.answer(conn, errorResponse(errdefs.InvalidParameter(fmt.Errorf("supervisor protocol: unknown op %q", req.Op))))
	}
}

func (s *supervisor) info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := Info{
		ID:            s.cfg.ID,
		Status:        s.status,
		SupervisorPid: s.ident.Pid,
		Identity:      s.ident,
		StartedAt:     s.startedAt,
		Terminal:      s.cfg.Terminal,
		OpenStdin:     s.cfg.OpenStdin,
	}
	if s.exit != nil {
		st := s.exit.status()
		info.Exit = &st
		info.FinishedAt = s.exit.FinishedAt
	} else {
		select {
		case <-s.exited:
		default:
			info.Pid = s.pid
		}
	}
	return info
}

// start runs Runtime.Start once, with reaping held off (see Runtime).
func (s *supervisor) start(ctx context.Context) error {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	if status != exec.StatusCreated || s.initPid == 0 {
		return errdefs.Conflict(fmt.Errorf("container %s is %s, not created", s.cfg.ID, status))
	}
	if err := s.rt.Start(ctx); err != nil {
		return err
	}
	now := time.Now().UTC()
	s.mu.Lock()
	s.status = exec.StatusRunning
	s.startedAt = now
	s.mu.Unlock()
	return writeJSON(s.dir, StatusFile, statusRecord{Status: exec.StatusRunning, Pid: s.pid, StartedAt: now})
}

// signal signals the init. Holding reapMu means the init cannot be reaped
// meanwhile, so initPid still names it (a zombie at worst).
func (s *supervisor) signal(sig syscall.Signal) error {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	if s.initPid == 0 {
		return errdefs.Conflict(fmt.Errorf("container %s is not running", s.cfg.ID))
	}
	if err := unix.Kill(s.initPid, sig); err != nil {
		return fmt.Errorf("signal container %s: %w", s.cfg.ID, err)
	}
	return nil
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

func (s *supervisor) attach(conn *net.UnixConn, req request) {
	a := &attacher{conn: conn, stdout: req.Stdout, stderr: req.Stderr}
	withStdin := req.Stdin && s.cfg.OpenStdin
	if s.cfg.Terminal {
		// A terminal's output is all one stream.
		a.stdout = a.stdout || a.stderr
		a.stderr = false
	}
	// Registered and answered under a.mu, so that no output frame can
	// precede the answer line.
	a.mu.Lock()
	s.mu.Lock()
	rec := s.exit
	if rec == nil {
		s.attachers[a] = struct{}{}
	}
	s.mu.Unlock()
	err := s.answer(conn, response{})
	a.mu.Unlock()
	if err != nil {
		s.detach(a)
		return
	}
	if rec != nil {
		a.finish(*rec)
	}
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
		p := buf[:n]
		if _, err := io.ReadFull(conn, p); err != nil {
			break
		}
		if stream != streamStdin || !stdinOpen {
			continue
		}
		if n == 0 {
			stdinOpen = false
			s.stdinEnded()
			continue
		}
		s.writeStdin(p)
	}
	if stdinOpen {
		s.stdinEnded()
	}
	s.mu.Lock()
	_, attached := s.attachers[a]
	delete(s.attachers, a)
	s.mu.Unlock()
	if attached {
		// Detached before the end: nothing more to send.
		a.mu.Lock()
		a.finished = true
		a.mu.Unlock()
	}
	conn.Close()
}

package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
	// The process a request is about: the init, or an exec process.
	p := s.init
	switch req.Op {
	case opExecAttach, opExecResize, opExecWait, opExecInfo:
		x, err := s.lookupExec(req.Exec)
		if err != nil {
			s.answer(conn, errorResponse(err))
			conn.Close()
			return
		}
		if req.Op == opExecInfo {
			info := x.info()
			s.answer(conn, response{Exec: &info})
			conn.Close()
			return
		}
		p = x.proc
	}
	switch req.Op {
	case opAttach, opExecAttach:
		p.attach(conn, req) // owns conn from here
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
	case opExec:
		if req.ExecSpec == nil {
			s.answer(conn, errorResponse(errdefs.InvalidParameter(errors.New("supervisor protocol: exec without a spec"))))
			return
		}
		info, err := s.exec(ctx, req.ExecSpec.spec())
		if err != nil {
			s.answer(conn, errorResponse(err))
			return
		}
		s.answer(conn, response{Exec: &info})
	case opResize, opExecResize:
		if err := p.resize(req.Width, req.Height); err != nil {
			s.answer(conn, errorResponse(fmt.Errorf("resize terminal: %w", err)))
			return
		}
		s.answer(conn, response{})
	case opWait, opExecWait:
		// A client that goes away stops waiting: its connection reads EOF.
		gone := make(chan struct{})
		go func() {
			var b [1]byte
			conn.Read(b[:])
			close(gone)
		}()
		select {
		case <-p.done:
			if s.answer(conn, response{Exit: p.exitRecord()}) == nil && p == s.init {
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
	info := Info{
		ID:            s.cfg.ID,
		Status:        s.status,
		SupervisorPid: s.ident.Pid,
		Identity:      s.ident,
		StartedAt:     s.startedAt,
		Terminal:      s.cfg.Terminal,
		OpenStdin:     s.cfg.OpenStdin,
	}
	s.mu.Unlock()
	if rec := s.init.exitRecord(); rec != nil {
		st := rec.status()
		// Also in the instant before Status is set: the record is the
		// truth.
		info.Status = exec.StatusStopped
		info.Exit = &st
		info.FinishedAt = rec.FinishedAt
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

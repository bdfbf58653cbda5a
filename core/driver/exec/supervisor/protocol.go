package supervisor

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Operations of the wire protocol.
const (
	opInfo   = "info"
	opStart  = "start"
	opAttach = "attach"
	opResize = "resize"
	opWait   = "wait"
	opSignal = "signal"

	// Added with exec (contract v1.1); an older supervisor answers them
	// as an unknown op, which the client reports as NotImplemented.
	opExec       = "exec"
	opExecAttach = "exec-attach"
	opExecResize = "exec-resize"
	opExecWait   = "exec-wait"
	opExecInfo   = "exec-info"
)

// Stream numbers of the attach frames (Docker's multiplexed format, plus
// 3 for the exit status).
const (
	streamStdin  = 0
	streamStdout = 1
	streamStderr = 2
	streamExit   = 3
)

// maxFrame bounds a frame's payload, so that a confused peer cannot make
// either side allocate without limit.
const maxFrame = 1 << 20

// request is the one JSON line a client sends.
type request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	Stdin   bool   `json:"stdin,omitempty"`
	Stdout  bool   `json:"stdout,omitempty"`
	Stderr  bool   `json:"stderr,omitempty"`
	Width   uint16 `json:"width,omitempty"`
	Height  uint16 `json:"height,omitempty"`
	Signal  int    `json:"signal,omitempty"`
	// Exec names the exec process of the exec-* ops; ExecSpec is the
	// process to start ("exec").
	Exec     string    `json:"exec,omitempty"`
	ExecSpec *execSpec `json:"exec_spec,omitempty"`
}

// execSpec is exec.ExecSpec on the wire.
type execSpec struct {
	ID            string   `json:"id"`
	Args          []string `json:"args"`
	Env           []string `json:"env,omitempty"`
	Cwd           string   `json:"cwd,omitempty"`
	User          string   `json:"user,omitempty"`
	Terminal      bool     `json:"terminal,omitempty"`
	OpenStdin     bool     `json:"open_stdin,omitempty"`
	StdinOnce     bool     `json:"stdin_once,omitempty"`
	ConsoleWidth  uint16   `json:"console_width,omitempty"`
	ConsoleHeight uint16   `json:"console_height,omitempty"`
	Privileged    bool     `json:"privileged,omitempty"`
	Attached      bool     `json:"attached,omitempty"`
}

func execSpecOf(s exec.ExecSpec) *execSpec {
	p := s.Process
	return &execSpec{
		ID: s.ID, Args: p.Args, Env: p.Env, Cwd: p.Cwd, User: p.User,
		Terminal: p.Terminal, OpenStdin: p.OpenStdin, StdinOnce: p.StdinOnce,
		ConsoleWidth: p.ConsoleWidth, ConsoleHeight: p.ConsoleHeight,
		Privileged: s.Privileged, Attached: s.Attached,
	}
}

func (w *execSpec) spec() exec.ExecSpec {
	return exec.ExecSpec{
		ID: w.ID,
		Process: exec.Process{
			Args: w.Args, Env: w.Env, Cwd: w.Cwd, User: w.User,
			Terminal: w.Terminal, OpenStdin: w.OpenStdin, StdinOnce: w.StdinOnce,
			ConsoleWidth: w.ConsoleWidth, ConsoleHeight: w.ConsoleHeight,
		},
		Privileged: w.Privileged,
		Attached:   w.Attached,
	}
}

// response is the one JSON line the supervisor answers.
type response struct {
	Version int    `json:"version"`
	Error   string `json:"error,omitempty"`
	// Class is the errdefs class of Error, so that classification
	// survives the socket (a Start of a started container is a Conflict).
	Class errdefs.Class `json:"class,omitempty"`
	Info  *Info         `json:"info,omitempty"`
	Exit  *exitRecord   `json:"exit,omitempty"`
	Exec  *ExecInfo     `json:"exec_info,omitempty"`
}

// exitRecord is exit.json and the payload of wait answers and stream-3
// frames.
type exitRecord struct {
	Code       int       `json:"code"`
	OOMKilled  bool      `json:"oom_killed"`
	Error      string    `json:"error,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
}

func (r exitRecord) status() exec.ExitStatus {
	return exec.ExitStatus{Code: r.Code, OOMKilled: r.OOMKilled, Error: r.Error}
}

func (r *response) err() error {
	if r.Error == "" {
		return nil
	}
	return errdefs.Wrap(r.Class, errors.New(r.Error))
}

func errorResponse(err error) response {
	return response{Version: ProtocolVersion, Error: err.Error(), Class: errdefs.ClassOf(err)}
}

func versionError(peer string, v int) error {
	return errdefs.InvalidParameter(fmt.Errorf("supervisor protocol: %s speaks version %d, this side speaks version %d", peer, v, ProtocolVersion))
}

// writeFrame writes one multiplexed frame: [stream 0 0 0 len(be32)] payload.
func writeFrame(w io.Writer, stream byte, p []byte) error {
	var h [8]byte
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
	if len(p) == 0 {
		_, err := w.Write(h[:])
		return err
	}
	// One write for header and small payloads keeps frames whole on the
	// socket without an extra copy for large ones.
	if len(p) <= 4096 {
		var buf [8 + 4096]byte
		copy(buf[:], h[:])
		n := copy(buf[8:], p)
		_, err := w.Write(buf[:8+n])
		return err
	}
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// readFrameHeader reads a frame header and returns its stream and length.
func readFrameHeader(r io.Reader) (byte, int, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, err
	}
	n := binary.BigEndian.Uint32(h[4:])
	if n > maxFrame {
		return 0, 0, fmt.Errorf("supervisor protocol: frame of %d bytes exceeds %d", n, maxFrame)
	}
	return h[0], int(n), nil
}

func marshalLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs are marshalled here.
		panic(err)
	}
	return append(b, '\n')
}

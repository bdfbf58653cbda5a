package httputil

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/version"
)

// JSONMessage is one line of a progress stream, with Docker 1.7's keys and
// order (pkg/jsonmessage).
type JSONMessage struct {
	Stream         string          `json:"stream,omitempty"`
	Status         string          `json:"status,omitempty"`
	ProgressDetail *ProgressDetail `json:"progressDetail,omitempty"`
	Progress       string          `json:"progress,omitempty"`
	ID             string          `json:"id,omitempty"`
	From           string          `json:"from,omitempty"`
	Time           int64           `json:"time,omitempty"`
	ErrorDetail    *JSONError      `json:"errorDetail,omitempty"`
	Error          string          `json:"error,omitempty"`
}

// ProgressDetail is the numeric progress added in v1.8.
type ProgressDetail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
	Start   int64 `json:"start,omitempty"`
}

// JSONError is errorDetail, added in v1.8.
type JSONError struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Stream writes a progress stream: newline-separated JSON messages, flushed
// one by one. The response starts (200, headers sent) with the first
// message; until then an error can still be returned normally and gets its
// status code. Once started, errors are sent in-band (Finish).
//
// The shape follows the requested version: progressDetail and errorDetail
// exist from v1.8 (VERSIONS.md v1.8); in text mode (images/create and push
// at v1.0, build before v1.8) each message is a plain line.
type Stream struct {
	c       echo.Context
	text    bool
	details bool
	started bool
}

// NewStream returns a JSON stream shaped for the request's version.
func NewStream(c echo.Context) *Stream {
	return &Stream{c: c, details: !version.LessThan(version.From(c.Request().Context()), "1.8")}
}

// NewTextStream returns a plain-text stream, for the versions where Docker
// streamed text (v1.0 pull/push/import; build before v1.8).
func NewTextStream(c echo.Context) *Stream {
	return &Stream{c: c, text: true}
}

// Started reports whether the response has begun.
func (s *Stream) Started() bool { return s.started }

func (s *Stream) start() {
	if s.started {
		return
	}
	s.started = true
	resp := s.c.Response()
	ct := "application/json"
	if s.text {
		ct = "text/plain; charset=utf-8"
	}
	resp.Header().Set(echo.HeaderContentType, ct)
	resp.WriteHeader(http.StatusOK)
}

// Write sends one message and flushes it to the client.
func (s *Stream) Write(m JSONMessage) error {
	s.start()
	resp := s.c.Response()
	if s.text {
		line := m.Status
		if m.Stream != "" {
			line = m.Stream
		}
		if m.Progress != "" {
			line += " " + m.Progress
		}
		if m.Error != "" {
			line = "Error: " + m.Error
		}
		if line == "" {
			return nil
		}
		if line[len(line)-1] != '\n' {
			line += "\n"
		}
		if _, err := resp.Write([]byte(line)); err != nil {
			return err
		}
	} else {
		if !s.details {
			m.ProgressDetail, m.ErrorDetail = nil, nil
		}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := resp.Write(append(b, '\r', '\n')); err != nil {
			return err
		}
	}
	resp.Flush()
	return nil
}

// Status sends {"status": ..., "id": ...}; id may be "".
func (s *Stream) Status(id, status string) error {
	return s.Write(JSONMessage{ID: id, Status: status})
}

// Statusf is Status with formatting and no id.
func (s *Stream) Statusf(format string, args ...any) error {
	return s.Write(JSONMessage{Status: fmt.Sprintf(format, args...)})
}

// Finish ends a handler that streams: it returns what the handler should
// return. A nil err gives nil. Before the stream started, err is returned
// as is, so the error handler answers with its status code. After, the
// status is already sent: err goes in-band as
// {"errorDetail":{"message":...},"error":...} (Docker's
// WriteJSONMessage on failure) and nil is returned.
func (s *Stream) Finish(err error) error {
	if err == nil || !s.started {
		return err
	}
	msg := err.Error()
	// The client may be gone; nothing more can be done then.
	_ = s.Write(JSONMessage{Error: msg, ErrorDetail: &JSONError{Message: msg}})
	return nil
}

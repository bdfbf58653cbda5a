package jsonlog

import (
	"bytes"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxLine is the longest line kept in memory while waiting for its '\n';
// longer lines are split into records of MaxLine bytes.
const MaxLine = 16 << 10

// Writer appends records to a log. Its StreamWriters may be used from
// different goroutines: each batch of records is written to the underlying
// writer in one Write, under a lock, so records never interleave.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	err error
	now func() time.Time
}

// NewWriter returns a Writer appending to w (normally a file opened with
// O_APPEND, mode 0600).
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, now: time.Now}
}

// WriteRecord appends one record whose "log" is line exactly (the caller
// includes the '\n' it wants).
func (w *Writer) WriteRecord(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.buf = appendRecord(w.buf[:0], stream, line, appendTime(nil, t))
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	if err != nil {
		// A log that cannot be written stays failed: later records would
		// be out of order after the gap.
		w.err = err
	}
	if cap(w.buf) > 256<<10 {
		w.buf = nil // do not keep a large burst's buffer
	} else {
		w.buf = w.buf[:0]
	}
	return err
}

// Stream returns a writer for one stream ("stdout" or "stderr") that splits
// what it is given into records as the package documentation describes.
// A StreamWriter is not safe for concurrent use; Close it to flush a final
// partial line.
func (w *Writer) Stream(stream string) *StreamWriter {
	return &StreamWriter{w: w, stream: stream}
}

// StreamWriter turns one output stream into records.
type StreamWriter struct {
	w       *Writer
	stream  string
	partial []byte
}

// Write records each complete line of p (with any partial line kept from
// earlier writes before it), all with the current time, and keeps the
// rest. It always consumes all of p unless the log cannot be written.
func (s *StreamWriter) Write(p []byte) (int, error) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	var ts []byte
	stamp := func() []byte {
		// One timestamp per batch: all these lines were read at once.
		if ts == nil {
			ts = appendTime(make([]byte, 0, 40), w.now())
		}
		return ts
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := MaxLine - len(s.partial)
			if len(p) < room {
				s.partial = append(s.partial, p...)
				break
			}
			// The line reached MaxLine: write a record without '\n'.
			line := p[:room]
			if len(s.partial) > 0 {
				line = append(s.partial, line...)
			}
			w.buf = appendRecord(w.buf, s.stream, line, stamp())
			s.partial = s.partial[:0]
			p = p[room:]
			continue
		}
		line := p[:i+1]
		if len(s.partial) > 0 {
			if len(s.partial)+len(line) > MaxLine {
				// Split at MaxLine so no record is longer than MaxLine.
				room := MaxLine - len(s.partial)
				w.buf = appendRecord(w.buf, s.stream, append(s.partial, p[:room]...), stamp())
				s.partial = s.partial[:0]
				p = p[room:]
				continue
			}
			line = append(s.partial, line...)
			s.partial = s.partial[:0]
		}
		w.buf = appendRecord(w.buf, s.stream, line, stamp())
		p = p[i+1:]
		if len(w.buf) >= 64<<10 {
			if err := w.flushLocked(); err != nil {
				return n - len(p), err
			}
		}
	}
	if err := w.flushLocked(); err != nil {
		return 0, err
	}
	if cap(s.partial) > MaxLine {
		s.partial = append([]byte(nil), s.partial...)
	}
	return n, nil
}

// Close writes a pending partial line with '\n' appended.
func (s *StreamWriter) Close() error {
	if len(s.partial) == 0 {
		return nil
	}
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.buf = appendRecord(w.buf, s.stream, append(s.partial, '\n'), appendTime(nil, w.now()))
	s.partial = nil
	return w.flushLocked()
}

func appendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

func appendRecord(dst []byte, stream string, line, ts []byte) []byte {
	dst = append(dst, `{"log":`...)
	dst = AppendString(dst, line)
	dst = append(dst, `,"stream":`...)
	dst = AppendString(dst, []byte(stream))
	dst = append(dst, `,"time":"`...)
	dst = append(dst, ts...)
	dst = append(dst, "\"}\n"...)
	return dst
}

const hexDigits = "0123456789abcdef"

// isSafe reports whether encoding/json writes the ASCII byte b as is (with
// HTML escaping on, its default): printable or DEL, and not '"', '\\',
// '<', '>', '&'.
func isSafe(b byte) bool {
	return b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
}

// AppendString appends s as a JSON string, quoted, byte for byte as
// json.Marshal(string(s)) would.
func AppendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if isSafe(b) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

package jsonlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// TailAll asks Read for every record.
const TailAll = -1

// followPoll bounds how long a follower sleeps between looks at the file,
// context and exit signal, when inotify reports nothing.
const followPoll = 50 * time.Millisecond

// Record is one log line.
type Record struct {
	Stream string // "stdout" or "stderr"
	// Line is the "log" field, normally ending in '\n'. It is only valid
	// during the callback that receives it.
	Line []byte
	Time time.Time
}

// ReadOptions select records, as the logs API's parameters do.
type ReadOptions struct {
	// Tail is how many of the last records to read: TailAll (any
	// negative number) for all, 0 for none (Docker 1.7's tail=0 showed no
	// past lines; with Follow only new ones).
	Tail int
	// Since skips records whose time is before it (zero: none skipped).
	Since time.Time
	// Follow keeps reading as the file grows, until ctx ends or, once
	// Exited is closed, the end of the file is reached.
	Follow bool
	// Exited is closed by the caller when the container has exited and its
	// output is all in the log (after the supervisor's Wait answered).
	Exited <-chan struct{}
}

// Read calls fn for each selected record of the log at path, in order. It
// returns fn's first error, ctx's error if ctx ends while following, or nil
// at the end (of the file, or once following ended because Exited). A
// partial record at the end of the file (one being written) is read only
// when following, once complete.
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	var watch *watcher
	if opts.Follow {
		// Watch before reading, so that no write between our last read and
		// the start of watching goes unnoticed.
		watch = newWatcher(path)
		defer watch.close()
	}

	var offset int64
	if opts.Tail >= 0 {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if offset, err = tailOffset(f, fi.Size(), opts.Tail); err != nil {
			return err
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	var pending []byte // a record read in pieces
	for {
		exitedBefore := isClosed(opts.Exited)
		for {
			line, err := br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				pending = append(pending, line...)
				continue
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return err
				}
				pending = append(pending, line...)
				break
			}
			if len(pending) > 0 {
				line = append(pending, line...)
				pending = pending[:0]
			}
			rec, err := parseRecord(line)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if !opts.Since.IsZero() && rec.Time.Before(opts.Since) {
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if !opts.Follow || exitedBefore {
			return nil
		}
		if err := watch.wait(ctx, opts.Exited); err != nil {
			return err
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// tailOffset returns where the last n complete records of f start, reading
// backwards in blocks so that the cost is in the size of the tail, not of
// the file.
func tailOffset(f *os.File, size int64, n int) (int64, error) {
	const block = 64 << 10
	buf := make([]byte, block)
	seen := 0 // newlines seen from the end
	pos := size
	for pos > 0 {
		start := max(0, pos-block)
		b := buf[:pos-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			// The first newline from the end closes the last complete
			// record; the (n+1)th closes the record before the n we want.
			seen++
			if seen == n+1 {
				return start + int64(i) + 1, nil
			}
		}
		pos = start
	}
	return 0, nil
}

// parseRecord decodes one line. Records as this package writes them take
// a fast path; anything else (other key orders, extra keys) goes through
// encoding/json.
func parseRecord(line []byte) (Record, error) {
	if rec, ok := parseFast(line); ok {
		return rec, nil
	}
	var v struct {
		Log    string    `json:"log"`
		Stream string    `json:"stream"`
		Time   time.Time `json:"time"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return Record{}, fmt.Errorf("bad log record %.80q: %w", line, err)
	}
	return Record{Stream: v.Stream, Line: []byte(v.Log), Time: v.Time}, nil
}

func parseFast(line []byte) (Record, bool) {
	var rec Record
	rest, ok := bytes.CutPrefix(line, []byte(`{"log":"`))
	if !ok {
		return rec, false
	}
	// Find the closing quote of "log", noting whether any escape is
	// present.
	escaped := false
	end := -1
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			end = i
		}
		if end >= 0 {
			break
		}
	}
	if end < 0 {
		return rec, false
	}
	if escaped {
		b, ok := unescape(rest[:end])
		if !ok {
			return rec, false
		}
		rec.Line = b
	} else {
		rec.Line = rest[:end]
	}
	rest, ok = bytes.CutPrefix(rest[end+1:], []byte(`,"stream":"`))
	if !ok {
		return rec, false
	}
	switch {
	case bytes.HasPrefix(rest, []byte(`stdout"`)):
		rec.Stream = "stdout"
	case bytes.HasPrefix(rest, []byte(`stderr"`)):
		rec.Stream = "stderr"
	default:
		return rec, false
	}
	rest, ok = bytes.CutPrefix(rest[len(`stdout"`):], []byte(`,"time":"`))
	if !ok {
		return rec, false
	}
	q := bytes.IndexByte(rest, '"')
	if q < 0 || !bytes.Equal(bytes.TrimRight(rest[q:], "\r\n"), []byte(`"}`)) {
		return rec, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:q]))
	if err != nil {
		return rec, false
	}
	rec.Time = t
	return rec, true
}

// watcher waits for a file to change: inotify when the kernel offers it,
// else (or in addition) a poll every followPoll.
type watcher struct {
	fd int // -1 without inotify
}

func newWatcher(path string) *watcher {
	w := &watcher{fd: -1}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return w
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		return w
	}
	w.fd = fd
	return w
}

// wait returns when the file may have grown, exited is closed, or
// followPoll passed; or ctx's error when ctx ended.
func (w *watcher) wait(ctx context.Context, exited <-chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if isClosed(exited) {
		return nil
	}
	if w.fd < 0 {
		t := time.NewTimer(followPoll)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
		case <-t.C:
		}
		return nil
	}
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, int(followPoll/time.Millisecond)); err != nil && !errors.Is(err, unix.EINTR) {
		return err
	}
	// Drain the events; their content does not matter.
	var buf [4096]byte
	for {
		if n, err := unix.Read(w.fd, buf[:]); n <= 0 || err != nil {
			break
		}
	}
	return ctx.Err()
}

func (w *watcher) close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
	}
}

// unescape decodes the body of a JSON string (without its quotes) as
// encoding/json would; false for anything it does not handle, which then
// goes the slow way.
func unescape(s []byte) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			if c < 0x20 {
				return nil, false
			}
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				return nil, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// A pair is \uD8xx\uDCxx; a lone half is U+FFFD.
				r2 := rune(-1)
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if v, ok := hex4(s[i+3:]); ok {
						r2 = v
					}
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					out = utf8.AppendRune(out, d)
					i += 6
					continue
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false
		}
	}
	return out, true
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

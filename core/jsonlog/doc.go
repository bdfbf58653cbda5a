// Package jsonlog reads and writes Docker 1.7's json-file container logs:
// one JSON object per line, keys in the order
//
//	{"log":"<line>\n","stream":"stdout"|"stderr","time":"<RFC3339Nano, UTC>"}
//
// The supervisor writes them (Writer, one StreamWriter per output stream);
// the daemon reads them for "docker logs" (Read: tail, since, follow).
//
// # Line splitting
//
// Output is split on '\n'; each record's "log" holds one line including its
// '\n', as Docker 1.7's copier and logger produced. Bytes after the last
// '\n' of a write are kept until the line completes, so a line written in
// pieces (or cut at a read-buffer boundary) is one record. Two cases differ
// from a plain split:
//
//   - A line that reaches MaxLine bytes without a '\n' is written as a
//     record of MaxLine bytes without a trailing '\n' (Docker 1.7 buffered
//     it whole, without bound; a per-container supervisor cannot). Readers
//     that concatenate "log" fields, as Docker 1.7's "docker logs" did,
//     still reproduce the output byte for byte.
//   - A final partial line is flushed at Close with '\n' appended, as
//     Docker 1.7 did at EOF.
//
// "log" is escaped exactly as encoding/json would escape the string
// (including its HTML-safe escapes and U+FFFD for invalid UTF-8), by a
// hand-written encoder that is much faster than a json.Marshal per line.
//
// This package imports only the standard library and golang.org/x/sys/unix
// (inotify, for following a growing log). It formats no timestamps for
// display: callers format Record.Time as they need (Docker's
// RFC3339NanoFixed for "timestamps=1").
package jsonlog

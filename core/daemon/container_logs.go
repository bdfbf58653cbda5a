package daemon

import (
	"context"
	"errors"
	"io"
	"io/fs"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/jsonlog"
)

// timestampFormat is Docker's RFC3339NanoFixed, the logs API's timestamps
// (DOCKER17.md §7): always nine fractional digits.
const timestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Logs streams a container's json-file log (GET /containers/{id}/logs).
// With Follow it goes on until ctx ends or the container's current run
// has exited and its last output is sent.
func (s *Containers) Logs(ctx context.Context, ref string, opts container.LogsOptions) error {
	c, l, err := s.get(ref)
	if err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		// Docker 1.7's text; a 500 there (VERSIONS.md v1.19).
		return errors.New("You must choose at least one stream")
	}
	c.Lock()
	r := c.Snapshot()
	exited := l.monitorDone
	if !r.State.Running || exited == nil {
		done := make(chan struct{})
		close(done)
		exited = done
	}
	c.Unlock()
	streams, err := opts.Streams(r.Config.Tty)
	if err != nil {
		return err
	}
	if r.LogPath == "" {
		return nil
	}
	return copyLog(ctx, r.LogPath, jsonlog.ReadOptions{Tail: opts.Tail, Since: opts.Since, Follow: opts.Follow, Exited: exited},
		opts.Stdout, opts.Stderr, opts.Timestamps, streams)
}

// copyLog writes the selected records of a json-file log to the streams,
// one Write per record so that a multiplexed stream gets one frame each.
// A log that does not exist yet is empty.
func copyLog(ctx context.Context, path string, ro jsonlog.ReadOptions, stdout, stderr, timestamps bool, streams container.Streams) error {
	var buf []byte
	err := jsonlog.Read(ctx, path, ro, func(rec jsonlog.Record) error {
		var w io.Writer
		switch {
		case rec.Stream == "stderr" && stderr:
			w = streams.Stderr
		case rec.Stream != "stderr" && stdout:
			w = streams.Stdout
		}
		if w == nil {
			return nil
		}
		buf = buf[:0]
		if timestamps {
			buf = rec.Time.UTC().AppendFormat(buf, timestampFormat)
			buf = append(buf, ' ')
		}
		buf = append(buf, rec.Line...)
		_, err := w.Write(buf)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

package pluginrpc

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// HCLogger adapts a slog.Logger to the hclog.Logger go-plugin wants, so
// that go-plugin's own messages and the log lines it parses from a plugin's
// stderr end up in the daemon's single slog log. go-plugin names its
// loggers after the plugin binary; the name is kept as the "logger"
// attribute and the caller adds the configured plugin name with With.
func HCLogger(l *slog.Logger) hclog.Logger {
	return &hcAdapter{l: l}
}

type hcAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (a *hcAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	l := a.l
	if a.name != "" {
		l = l.With("logger", a.name)
	}
	l.Log(context.Background(), slogLevel(level), msg, args...)
}

func (a *hcAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hcAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hcAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hcAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hcAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hcAdapter) enabled(level hclog.Level) bool {
	return a.l.Enabled(context.Background(), slogLevel(level))
}

func (a *hcAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hcAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hcAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hcAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hcAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hcAdapter) ImpliedArgs() []any { return a.implied }

func (a *hcAdapter) With(args ...any) hclog.Logger {
	return &hcAdapter{l: a.l.With(args...), name: a.name, implied: append(append([]any(nil), a.implied...), args...)}
}

func (a *hcAdapter) Name() string { return a.name }

func (a *hcAdapter) Named(name string) hclog.Logger {
	n := name
	if a.name != "" {
		n = a.name + "." + name
	}
	return &hcAdapter{l: a.l, name: n, implied: a.implied}
}

func (a *hcAdapter) ResetNamed(name string) hclog.Logger {
	return &hcAdapter{l: a.l, name: name, implied: a.implied}
}

// SetLevel is ignored: the slog handler owns the level.
func (a *hcAdapter) SetLevel(hclog.Level) {}

// GetLevel reports the most verbose level the handler accepts. go-plugin
// reads it to skip parsing lines that would be dropped.
func (a *hcAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (a *hcAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hcAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &LineWriter{Log: func(line string) { a.Info(line) }}
}

// LineWriter calls Log once per line written to it (without the newline).
// A last line without newline is held until the next write. It is used for
// a plugin's raw output, which arrives in arbitrary pieces.
type LineWriter struct {
	Log     func(line string)
	pending strings.Builder
}

func (w *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := strings.IndexByte(string(p), '\n')
		if i < 0 {
			w.pending.Write(p)
			break
		}
		w.pending.Write(p[:i])
		line := strings.TrimRight(w.pending.String(), "\r")
		w.pending.Reset()
		if line != "" {
			w.Log(line)
		}
		p = p[i+1:]
	}
	return n, nil
}

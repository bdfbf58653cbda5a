package pluginrpc

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// ReserveStdout makes the process's standard output carry nothing but
// go-plugin's handshake line, which is how the daemon finds the plugin's
// socket: any other byte there would corrupt the handshake.
//
// It points file descriptor 1 at standard error, so code that writes to
// fd 1 directly (C libraries, children that inherit it, code that kept the
// old os.Stdout) lands in the plugin's log instead. It replaces os.Stdout by
// a pipe whose first line is copied to the real standard output, which is
// then closed; later writes to that pipe are copied to standard error.
// go-plugin's Serve writes its handshake through os.Stdout and then swaps
// os.Stdout for its own stdio pipe, so library writes after that go to the
// daemon's SyncStdout, never to fd 1.
//
// stderr is a duplicate of the real standard error, safe to log to after
// go-plugin swapped os.Stderr too. Call it once, before go-plugin's Serve.
func ReserveStdout() (stderr *os.File, err error) {
	outFD, err := unix.Dup(1)
	if err != nil {
		return nil, fmt.Errorf("dup stdout: %w", err)
	}
	errFD, err := unix.Dup(2)
	if err != nil {
		unix.Close(outFD)
		return nil, fmt.Errorf("dup stderr: %w", err)
	}
	unix.CloseOnExec(outFD)
	unix.CloseOnExec(errFD)
	realOut := os.NewFile(uintptr(outFD), "handshake")
	stderr = os.NewFile(uintptr(errFD), "stderr")
	if err := unix.Dup2(2, 1); err != nil {
		realOut.Close()
		stderr.Close()
		return nil, fmt.Errorf("redirect fd 1 to stderr: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		realOut.Close()
		stderr.Close()
		return nil, err
	}
	// The *os.File values for fds 1 and 2 close their descriptor when
	// garbage-collected; once os.Stdout (here) and os.Stderr (in go-plugin)
	// are replaced nothing else references them, and a later open(2)
	// could then reuse fd 1 or 2. The goroutine below keeps them alive.
	origOut, origErr := os.Stdout, os.Stderr
	os.Stdout = w
	// This goroutine lives as long as the process: the pipe's write end is
	// never closed because os.Stdout may still be referenced by code that
	// captured it.
	go func() {
		defer runtime.KeepAlive(origErr)
		defer runtime.KeepAlive(origOut)
		br := bufio.NewReader(r)
		line, err := br.ReadString('\n')
		if strings.Count(line, "|") >= 3 {
			io.WriteString(realOut, line)
		} else if line != "" {
			io.WriteString(stderr, line)
		}
		realOut.Close()
		if err != nil {
			return
		}
		io.Copy(stderr, br)
	}()
	return stderr, nil
}

// NewPluginLogger returns a logger for code running in a plugin process. It
// writes one JSON object per line in the shape go-plugin's host parses
// (hclog's "@level" and "@message" keys), so each line reaches the daemon's
// log with its level and attributes, tagged with the plugin's name.
func NewPluginLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// The daemon stamps the line when it logs it;
				// go-plugin only parses hclog's own time format.
				return slog.Attr{}
			case slog.LevelKey:
				return slog.String("@level", hclogLevelName(a.Value.Any()))
			case slog.MessageKey:
				return slog.Attr{Key: "@message", Value: a.Value}
			}
			return a
		},
	}))
}

func hclogLevelName(v any) string {
	l, ok := v.(slog.Level)
	if !ok {
		return "info"
	}
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

package driver

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Tests of tar streams through pipes passed on the fd side channel, and of
// the chunked fallback when a plugin does not take the offer.

// fdCount counts the open descriptors of pid ("self" for this process);
// pipes counts those that are pipes.
func fdCount(t *testing.T, pid string) (all, pipes int) {
	t.Helper()
	dir := "/proc/" + pid + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "pipe:") {
			pipes++
		}
	}
	return len(ents), pipes
}

// waitFDCount waits for pid's descriptor count to come back to at most
// want: closes on the far side of a pipe or socket are seen a little
// later. (Not exactly want: go-plugin's own start-up plumbing in a plugin
// may close a descriptor or two later on.)
func waitFDCount(t *testing.T, pid string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := fdCount(t, pid)
		if got <= want {
			return
		}
		if time.Now().After(deadline) {
			ents, _ := os.ReadDir("/proc/" + pid + "/fd")
			var names []string
			for _, e := range ents {
				target, _ := os.Readlink("/proc/" + pid + "/fd/" + e.Name())
				names = append(names, e.Name()+"->"+target)
			}
			t.Fatalf("process %s has %d descriptors, had %d: %v", pid, got, want, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledFDCount is pid's descriptor count once it stopped changing:
// the far side of a closed pipe or socket lets go a little later.
func settledFDCount(t *testing.T, pid string) int {
	t.Helper()
	prev, _ := fdCount(t, pid)
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		n, _ := fdCount(t, pid)
		if n == prev {
			return n
		}
		prev = n
	}
	return prev
}

func pipeStreams(s *Storage) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drv != nil && s.drv.PipeStreams()
}

// streamRoundTrip applies payload to a new layer id and checks Diff gives
// it back.
func streamRoundTrip(t *testing.T, s *Storage, id string, payload []byte) {
	t.Helper()
	ctx := context.Background()
	if err := s.Create(ctx, id, "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n, err := s.ApplyDiff(ctx, id, "", bytes.NewReader(payload))
	if err != nil || n != int64(len(payload)) {
		t.Fatalf("ApplyDiff = %d, %v", n, err)
	}
	rc, err := s.Diff(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("Diff returned %d bytes (%v), want the %d applied", len(got), err, len(payload))
	}
}

type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	p = p[:min(len(p), r.n)]
	clear(p)
	r.n -= len(p)
	return len(p), nil
}

func TestPipeStreamsCloseEveryDescriptor(t *testing.T) {
	h := newTestHost(t)
	s := h.mustStart(t, "fake")
	if !pipeStreams(s) {
		t.Fatal("the plugin built with this glue did not accept pipe streams")
	}
	ctx := context.Background()
	pid := fmt.Sprint(s.Pid())
	// Warm up: the first calls open connections and the like.
	payload := make([]byte, 5*storage.ChunkSize+3)
	rand.Read(payload)
	streamRoundTrip(t, s, "warm", payload)
	self := settledFDCount(t, "self")
	plugin := settledFDCount(t, pid)

	t.Run("success", func(t *testing.T) {
		for i := range 3 {
			streamRoundTrip(t, s, fmt.Sprint("ok", i), payload)
		}
		waitFDCount(t, "self", self)
		waitFDCount(t, pid, plugin)
	})
	t.Run("errors", func(t *testing.T) {
		// The driver refuses (no such layer).
		if _, err := s.ApplyDiff(ctx, "missing", "", bytes.NewReader(payload)); !errors.Is(err, storage.ErrLayerNotFound) {
			t.Fatalf("ApplyDiff(missing) = %v", err)
		}
		if _, err := s.Diff(ctx, "missing", ""); !errors.Is(err, storage.ErrLayerNotFound) {
			t.Fatalf("Diff(missing) = %v", err)
		}
		// The daemon's source fails mid-stream.
		if err := s.Create(ctx, "badsrc", "", storage.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("client went away")
		if _, err := s.ApplyDiff(ctx, "badsrc", "", &failingReader{n: 3 << 20, err: boom}); !errors.Is(err, boom) {
			t.Fatalf("ApplyDiff with a failing source = %v", err)
		}
		// Diff closed early, and Diff whose context ends mid-read.
		rc, err := s.Diff(ctx, "ok0", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		cctx, cancel := context.WithCancel(ctx)
		rc, err = s.Diff(cctx, "ok0", "")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
			t.Fatalf("Diff read after cancel = %v", err)
		}
		rc.Close()
		// ApplyDiff cancelled while the plugin is busy.
		if err := s.Create(ctx, "cancelled", "", storage.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = s.ApplyDiff(cctx, "cancelled", "", &failingReader{n: 1 << 40})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled ApplyDiff = %v", err)
		}
		waitFDCount(t, "self", self)
		waitFDCount(t, pid, plugin)
	})
}

func TestPipeStreamsPluginDeath(t *testing.T) {
	h := newTestHost(t)
	s := h.mustStart(t, "fake")
	ctx := context.Background()
	payload := bytes.Repeat([]byte("pluggd"), 1<<20)
	streamRoundTrip(t, s, "a", payload)
	self := settledFDCount(t, "self")

	// Death during ApplyDiff (also TestKillDuringApplyDiff).
	if err := s.Create(ctx, "big", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	old := s.Pid()
	start := time.Now()
	_, err := s.ApplyDiff(ctx, "big", "", &killingReader{pid: old, after: 20 << 20})
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 10*time.Second {
		t.Fatalf("ApplyDiff = %v after %v, want a prompt Unavailable error", err, time.Since(start))
	}
	waitFor(t, 10*time.Second, "relaunch", func() bool { p := s.Pid(); return p != 0 && p != old })

	// Death while the daemon reads a Diff.
	rc, err := s.Diff(ctx, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	old = s.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	if !errors.Is(err, ErrUnavailable) || !errdefs.IsUnavailable(err) || time.Since(start) > 10*time.Second {
		t.Fatalf("Diff read = %v after %v, want a prompt Unavailable error", err, time.Since(start))
	}
	waitFor(t, 10*time.Second, "relaunch", func() bool { p := s.Pid(); return p != 0 && p != old })
	streamRoundTrip(t, s, "after", payload)
	// Two deaths, two relaunches: the daemon holds what it held before
	// (the new process's channel replaces the old one's).
	waitFDCount(t, "self", self)
}

func TestChunksWhenPluginIgnoresFDChannel(t *testing.T) {
	h := newTestHost(t)
	s := h.mustStart(t, "fake-nofd")
	if pipeStreams(s) {
		t.Fatal("pipe streams agreed with a plugin that has no fd channel")
	}
	payload := make([]byte, 3*storage.ChunkSize+17)
	rand.Read(payload)
	streamRoundTrip(t, s, "a", payload)
	// No pipe is made for a plugin on chunks: an open Diff adds none on
	// either side.
	pid := fmt.Sprint(s.Pid())
	_, selfPipes := fdCount(t, "self")
	_, pluginPipes := fdCount(t, pid)
	rc, err := s.Diff(context.Background(), "a", "")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, sp := fdCount(t, "self"); sp != selfPipes {
		t.Errorf("daemon pipes %d -> %d during a chunked Diff", selfPipes, sp)
	}
	if _, pp := fdCount(t, pid); pp != pluginPipes {
		t.Errorf("plugin pipes %d -> %d during a chunked Diff", pluginPipes, pp)
	}
}

// TestPipeStreamsUsePipes is the converse: with the offer taken, an open
// Diff holds one pipe end in each process.
func TestPipeStreamsUsePipes(t *testing.T) {
	h := newTestHost(t)
	s := h.mustStart(t, "fake")
	payload := bytes.Repeat([]byte("x"), 4<<20)
	streamRoundTrip(t, s, "a", payload)
	pid := fmt.Sprint(s.Pid())
	// The round trip's pipes close on each side a little after it
	// returns: count from where that has settled.
	selfPipes, pluginPipes := settledPipes(t, "self"), settledPipes(t, pid)
	rc, err := s.Diff(context.Background(), "a", "")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// The plugin writes 4 MiB, far more than a pipe holds, so its end
	// stays open until rc is read or closed.
	if sp := waitPipes(t, "self", selfPipes+1); sp != selfPipes+1 {
		t.Errorf("daemon pipes %d -> %d during a piped Diff, want one more", selfPipes, sp)
	}
	if pp := waitPipes(t, pid, pluginPipes+1); pp != pluginPipes+1 {
		t.Errorf("plugin pipes %d -> %d during a piped Diff, want one more", pluginPipes, pp)
	}
}

// settledPipes returns pid's pipe count once it has not changed for
// 100 ms (at most 5 s).
func settledPipes(t *testing.T, pid string) int {
	t.Helper()
	_, last := fdCount(t, pid)
	stable := time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_, n := fdCount(t, pid)
		if n != last {
			last, stable = n, time.Now()
		} else if time.Since(stable) >= 100*time.Millisecond {
			break
		}
	}
	return last
}

// waitPipes waits up to 2 s for pid's pipe count to be want and returns
// the count it saw last.
func waitPipes(t *testing.T, pid string, want int) int {
	t.Helper()
	var n int
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, n = fdCount(t, pid); n == want || time.Now().After(deadline) {
			return n
		}
	}
}

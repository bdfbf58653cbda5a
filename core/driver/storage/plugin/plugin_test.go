package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/plugin/plugintest"
	"github.com/pluggd/pluggd/core/errdefs"
)

// scripted wraps the fake driver and overrides what a test needs.
type scripted struct {
	storage.Driver
	removeErr error
	apply     func(ctx context.Context, r io.Reader) (int64, error)
	diff      func(ctx context.Context) (io.ReadCloser, error)
}

func (s *scripted) Remove(ctx context.Context, id string) error {
	if s.removeErr != nil {
		return s.removeErr
	}
	return s.Driver.Remove(ctx, id)
}

func (s *scripted) ApplyDiff(ctx context.Context, id, parent string, r io.Reader) (int64, error) {
	if s.apply != nil {
		return s.apply(ctx, r)
	}
	return s.Driver.ApplyDiff(ctx, id, parent, r)
}

func (s *scripted) Diff(ctx context.Context, id, parent string) (io.ReadCloser, error) {
	if s.diff != nil {
		return s.diff(ctx)
	}
	return s.Driver.Diff(ctx, id, parent)
}

func inProcess(t *testing.T, d *scripted) *Client {
	t.Helper()
	factory := func(ctx context.Context, opts storage.InitOptions) (storage.Driver, error) {
		fake, err := plugintest.New(ctx, opts)
		if err != nil {
			return nil, err
		}
		d.Driver = fake
		return d, nil
	}
	c, err := NewInProcess(context.Background(), factory, storage.InitOptions{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestErrorsCrossTheWireOnce(t *testing.T) {
	d := &scripted{}
	c := inProcess(t, d)
	ctx := context.Background()
	for _, sentinel := range storage.Sentinels() {
		d.removeErr = fmt.Errorf("removing x: %w", sentinel)
		err := c.Remove(ctx, "x")
		if !errors.Is(err, sentinel) {
			t.Errorf("%s: errors.Is lost: %v", sentinel.Code, err)
		}
		if errdefs.ClassOf(err) != sentinel.Class {
			t.Errorf("%s: class %v, want %v", sentinel.Code, errdefs.ClassOf(err), sentinel.Class)
		}
		if err.Error() != "removing x: "+sentinel.Message {
			t.Errorf("%s: message %q", sentinel.Code, err)
		}
	}
	for c0 := errdefs.Unknown; c0 <= errdefs.SystemClass; c0++ {
		d.removeErr = errdefs.Wrap(c0, errors.New("classified"))
		err := c.Remove(ctx, "x")
		if got := errdefs.ClassOf(err); got != c0 {
			t.Errorf("class %v came back as %v", c0, got)
		}
		if pluginrpc.IsTransport(err) {
			t.Errorf("a driver's %v error looks like a transport failure", c0)
		}
		for _, s := range storage.Sentinels() {
			if errors.Is(err, s) {
				t.Errorf("plain error matches sentinel %s", s.Code)
			}
		}
	}
}

func TestNotInitialised(t *testing.T) {
	s := NewServer(plugintest.New)
	_, err := s.Exists(context.Background(), nil)
	if err == nil {
		t.Fatal("call before Init succeeded")
	}
}

// countingReader yields n zero bytes, counting what was read.
type countingReader struct {
	n, read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	left := r.n.Load() - r.read.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	clear(p)
	r.read.Add(int64(len(p)))
	return len(p), nil
}

func (r *countingReader) Close() error { return nil }

const hundredMiB = 100 << 20

// bound is how much may be in flight between a stalled reader and a
// stream's producer: gRPC's flow-control windows, a few chunks. Far less
// than 100 MiB.
const bound = 40 << 20

func TestApplyDiffBackPressure(t *testing.T) {
	release := make(chan struct{})
	d := &scripted{apply: func(ctx context.Context, r io.Reader) (int64, error) {
		buf := make([]byte, 1<<20)
		if _, err := io.ReadFull(r, buf); err != nil {
			return 0, err
		}
		<-release // stall the consumer
		n, err := io.Copy(io.Discard, r)
		return n + int64(len(buf)), err
	}}
	c := inProcess(t, d)
	src := &countingReader{}
	src.n.Store(hundredMiB)
	done := make(chan error, 1)
	var size int64
	go func() {
		var err error
		size, err = c.ApplyDiff(context.Background(), "x", "", src)
		done <- err
	}()
	time.Sleep(time.Second)
	if got := src.read.Load(); got > bound {
		t.Fatalf("the client read %d MiB of the stream while the driver consumed 1 MiB", got>>20)
	}
	t.Logf("read ahead while stalled: %d MiB", src.read.Load()>>20)
	close(release)
	if err := <-done; err != nil || size != hundredMiB {
		t.Fatalf("ApplyDiff = %d, %v", size, err)
	}
}

func TestDiffBackPressureAndEarlyClose(t *testing.T) {
	src := &countingReader{}
	src.n.Store(hundredMiB)
	closed := make(chan struct{})
	d := &scripted{diff: func(ctx context.Context) (io.ReadCloser, error) {
		return struct {
			io.Reader
			io.Closer
		}{src, closerFunc(func() error { close(closed); return nil })}, nil
	}}
	c := inProcess(t, d)
	rc, err := c.Diff(context.Background(), "x", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if got := src.read.Load(); got > bound {
		t.Fatalf("the plugin produced %d MiB while the daemon read 1 MiB", got>>20)
	}
	t.Logf("produced ahead while stalled: %d MiB", src.read.Load()>>20)
	rc.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("closing the reader did not close the driver's stream")
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestDiffStreamsAll(t *testing.T) {
	src := &countingReader{}
	src.n.Store(hundredMiB + 123)
	d := &scripted{diff: func(context.Context) (io.ReadCloser, error) { return src, nil }}
	c := inProcess(t, d)
	rc, err := c.Diff(context.Background(), "x", "")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil || n != hundredMiB+123 {
		t.Fatalf("read %d, %v", n, err)
	}
}

func TestDiffErrorMidStream(t *testing.T) {
	d := &scripted{diff: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(&io.LimitedReader{R: zeros{}, N: 3 << 20}, errReader{errdefs.System(errors.New("disk on fire"))})), nil
	}}
	c := inProcess(t, d)
	rc, err := c.Diff(context.Background(), "x", "")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	if !errdefs.IsSystem(err) || err.Error() != "disk on fire" {
		t.Fatalf("error = %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestNegotiationRefusesOtherVersions(t *testing.T) {
	for _, tc := range []struct {
		theirs pluginrpc.Version
		want   string
	}{
		{pluginrpc.Version{Major: storage.ProtocolMajor + 1, Minor: 0}, fmt.Sprintf(`storage plugin "p" speaks contract v%d.0, this daemon speaks v%d.%d`, storage.ProtocolMajor+1, storage.ProtocolMajor, storage.ProtocolMinor)},
		{pluginrpc.Version{Major: storage.ProtocolMajor, Minor: storage.ProtocolMinor + 5}, ""},
	} {
		err := pluginrpc.CheckVersion(pluginrpc.KindStorage, "p", tc.theirs, Version(), MinProtocolMinor)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%v refused: %v", tc.theirs, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %q", tc.theirs, err, tc.want)
		}
	}
	err := pluginrpc.CheckVersion(pluginrpc.KindStorage, "p", pluginrpc.Version{Major: 1, Minor: 1}, pluginrpc.Version{Major: 1, Minor: 3}, 2)
	if want := `storage plugin "p" speaks contract v1.1, this daemon speaks v1.3 (and needs at least v1.2)`; err == nil || err.Error() != want {
		t.Errorf("old minor: %v, want %q", err, want)
	}
}

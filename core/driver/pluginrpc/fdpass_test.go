package pluginrpc

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func waitFDs(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := openFDs(t)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open, want %d", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// channel makes a side channel with both ends in this process.
func channel(t *testing.T) (*FDSender, *FDReceiver) {
	t.Helper()
	s, peer, err := NewFDChannel()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.FileConn(peer)
	peer.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := NewFDReceiver(c.(*net.UnixConn))
	return s, r
}

func TestFDChannelPassesPipe(t *testing.T) {
	before := openFDs(t)
	s, r := channel(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Send(pw)
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Claim(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.Write([]byte("through the pipe")); err != nil {
		t.Fatal(err)
	}
	got.Close()
	b, err := io.ReadAll(pr)
	if err != nil || string(b) != "through the pipe" {
		t.Fatalf("read %q, %v", b, err)
	}
	pr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.Claim(ctx, tok); err == nil {
		t.Fatal("a token was claimed twice")
	}
	s.Close()
	r.Close()
	waitFDs(t, before)
}

func TestFDChannelClaimWaitsForArrival(t *testing.T) {
	s, r := channel(t)
	defer s.Close()
	defer r.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	// The token the next Send will use.
	tok := s.next.Load() + 1
	claimed := make(chan error, 1)
	go func() {
		f, err := r.Claim(context.Background(), tok)
		if err == nil {
			f.Close()
		}
		claimed <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := s.Send(pr); err != nil {
		t.Fatal(err)
	}
	if err := <-claimed; err != nil {
		t.Fatal(err)
	}
}

func TestFDChannelUnclaimedIsClosed(t *testing.T) {
	old := unclaimedTTL
	unclaimedTTL = 100 * time.Millisecond
	t.Cleanup(func() { unclaimedTTL = old })
	before := openFDs(t)
	s, r := channel(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(pr); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	// The receiver's copy is the last read end: once it is closed, a
	// write fails with EPIPE.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := pw.Write([]byte("x")); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an unclaimed descriptor stayed open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pw.Close()
	s.Close()
	r.Close()
	waitFDs(t, before)
}

func TestFDChannelClosedByDaemon(t *testing.T) {
	before := openFDs(t)
	s, r := channel(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(pr); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	pw.Close()
	// The daemon's end closing (its death) ends the receiver, which
	// closes what nobody claimed, and fails claims at once.
	s.Close()
	start := time.Now()
	if _, err := r.Claim(context.Background(), 99); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Claim after the daemon's end closed: %v after %v", err, time.Since(start))
	}
	r.Close()
	waitFDs(t, before)
}

func TestFDChannelClaimHonoursContext(t *testing.T) {
	s, r := channel(t)
	defer s.Close()
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Claim(ctx, 12345); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Claim = %v, want the context's error", err)
	}
}

func TestFDChannelSendAfterPeerClosed(t *testing.T) {
	s, r := channel(t)
	defer s.Close()
	r.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if _, err := s.Send(pr); err == nil {
		t.Fatal("Send to a closed peer succeeded")
	}
}

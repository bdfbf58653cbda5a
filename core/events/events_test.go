package events

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// clock is a settable Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(sec int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = time.Unix(sec, 0)
}

func statuses(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Status)
	}
	return out
}

// recv reads one event or fails after a second.
func recv(t *testing.T, ch <-chan Event) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(time.Second):
		t.Fatal("no event within a second")
		return Event{}, false
	}
}

func TestBufferKeepsLast64(t *testing.T) {
	t.Parallel()
	l := New(Options{})
	for i := range 70 {
		l.Log(strconv.Itoa(i), "c", "busybox")
	}
	past, _ := l.Subscribe(t.Context(), Filter{Since: time.Unix(0, 0)})
	if len(past) != BufferSize || past[0].Status != "6" || past[63].Status != "69" {
		t.Fatalf("replayed %d: %v", len(past), statuses(past))
	}
}

func TestSinceReplaysFromTime(t *testing.T) {
	t.Parallel()
	c := &clock{}
	l := New(Options{Now: c.Now})
	for i, st := range []string{"create", "start", "die"} {
		c.Set(100 + int64(i))
		l.Log(st, "c", "busybox")
	}
	if ev := func() Event { p, _ := l.Subscribe(t.Context(), Filter{Since: time.Unix(0, 0)}); return p[0] }(); ev.Time != 100 || ev.From != "busybox" || ev.ID != "c" {
		t.Errorf("stamp: %+v", ev)
	}
	past, ch := l.Subscribe(t.Context(), Filter{Since: time.Unix(101, 0)})
	if got := fmt.Sprint(statuses(past)); got != "[start die]" {
		t.Errorf("since 101: %s", got)
	}
	past, _ = l.Subscribe(t.Context(), Filter{})
	if len(past) != 0 {
		t.Errorf("without since nothing is replayed: %v", statuses(past))
	}
	l.Log("destroy", "c", "busybox")
	if ev, _ := recv(t, ch); ev.Status != "destroy" {
		t.Errorf("live: %+v", ev)
	}
}

func TestUntil(t *testing.T) {
	t.Parallel()
	c := &clock{}
	c.Set(100)
	l := New(Options{Now: c.Now})
	l.Log("create", "c", "busybox")
	c.Set(105)
	l.Log("start", "c", "busybox")

	// An until already past: the replay stops there and the stream ends.
	past, ch := l.Subscribe(t.Context(), Filter{Since: time.Unix(0, 0), Until: time.Unix(102, 0)})
	if got := fmt.Sprint(statuses(past)); got != "[create]" {
		t.Errorf("replay up to until: %s", got)
	}
	if _, ok := recv(t, ch); ok {
		t.Error("the stream must be closed")
	}

	// An until ahead (real clock): live events until then, then the end.
	l = New(Options{})
	until := time.Now().Add(200 * time.Millisecond)
	_, ch = l.Subscribe(t.Context(), Filter{Until: until})
	l.Log("start", "c", "busybox")
	if ev, ok := recv(t, ch); !ok || ev.Status != "start" {
		t.Fatalf("before until: %+v %v", ev, ok)
	}
	if _, ok := recv(t, ch); ok {
		t.Fatal("the stream must end at until")
	}
	if time.Now().Before(until) {
		t.Error("ended before until")
	}
	if n := l.Subscribers(); n != 0 {
		t.Errorf("%d subscribers left", n)
	}
}

func TestContextEndsSubscription(t *testing.T) {
	t.Parallel()
	l := New(Options{})
	ctx, cancel := context.WithCancel(t.Context())
	_, ch := l.Subscribe(ctx, Filter{})
	if l.Subscribers() != 1 {
		t.Fatal("not subscribed")
	}
	cancel()
	if _, ok := recv(t, ch); ok {
		t.Fatal("channel open after cancel")
	}
	if l.Subscribers() != 0 {
		t.Error("still subscribed")
	}
	l.Log("create", "c", "") // must not panic on a closed channel
}

func TestCloseEndsSubscriptions(t *testing.T) {
	t.Parallel()
	l := New(Options{})
	_, ch := l.Subscribe(t.Context(), Filter{})
	l.Close()
	if _, ok := recv(t, ch); ok {
		t.Fatal("channel open after Close")
	}
	if _, ch = l.Subscribe(t.Context(), Filter{}); func() bool { _, ok := recv(t, ch); return ok }() {
		t.Fatal("a subscription after Close must end at once")
	}
	l.Log("create", "c", "")
}

func TestFilters(t *testing.T) {
	t.Parallel()
	const full = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	resolve := func(ref string) (string, bool) {
		if ref == "web" || ref == full[:12] {
			return full, true
		}
		return "", false
	}
	l := New(Options{ResolveContainer: resolve})
	l.Log("create", full, "busybox:1")
	l.Log("start", full, "busybox:1")
	l.Log("create", "other", "localhost:5000/app:2")
	l.Log("untag", "imageid", "")
	l.Log("tag", "busybox:latest", "")
	l.Log("die", "third", "sha256img")

	cases := []struct {
		f    Filter
		want string
	}{
		{Filter{Event: []string{"create"}}, "[create create]"},
		{Filter{Event: []string{"create", "untag"}}, "[create create untag]"},
		{Filter{Container: []string{"web"}}, "[create start]"},
		{Filter{Container: []string{full[:12]}, Event: []string{"start"}}, "[start]"},
		{Filter{Container: []string{full}}, "[create start]"},
		{Filter{Container: []string{"nosuch"}}, "[]"},
		{Filter{Image: []string{"busybox"}}, "[create start tag]"},
		{Filter{Image: []string{"busybox:1"}}, "[create start]"},
		{Filter{Image: []string{"localhost:5000/app"}}, "[create]"},
		{Filter{Image: []string{"localhost"}}, "[]"},
		{Filter{Image: []string{"imageid"}}, "[untag]"},
		{Filter{Image: []string{"sha256img"}}, "[die]"},
		{Filter{}, "[create start create untag tag die]"},
	}
	for _, tc := range cases {
		tc.f.Since = time.Unix(0, 0)
		past, _ := l.Subscribe(t.Context(), tc.f)
		if got := fmt.Sprint(statuses(past)); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}

	// Live events pass the same filter.
	_, ch := l.Subscribe(t.Context(), Filter{Container: []string{"web"}})
	l.Log("die", "other", "x")
	l.Log("die", full, "busybox:1")
	if ev, _ := recv(t, ch); ev.ID != full || ev.Status != "die" {
		t.Errorf("live filtered: %+v", ev)
	}
}

// A subscriber that never reads must not block Log nor starve the others.
func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	t.Parallel()
	l := New(Options{Queue: 2})
	_, slow := l.Subscribe(t.Context(), Filter{})
	fast := make(chan []Event)
	_, ch := l.Subscribe(t.Context(), Filter{})
	go func() {
		var got []Event
		for ev := range ch {
			got = append(got, ev)
			if len(got) == 100 {
				break
			}
		}
		fast <- got
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			l.Log(strconv.Itoa(i), "c", "")
			// Let the fast reader keep up with its queue of 2.
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Log blocked on a slow subscriber")
	}
	if got := <-fast; len(got) != 100 {
		t.Errorf("fast subscriber got %d events", len(got))
	}
	if ev, _ := recv(t, slow); ev.Status != "0" {
		t.Errorf("slow subscriber's first event %+v", ev)
	}
	if ev, _ := recv(t, slow); ev.Status != "1" {
		t.Errorf("slow subscriber's second event %+v", ev)
	}
	select {
	case ev := <-slow:
		t.Errorf("slow subscriber kept %+v: the rest must be dropped", ev)
	default:
	}
}

// Replay and live stream meet exactly, even while events keep coming.
func TestReplayThenLiveHasNoGap(t *testing.T) {
	t.Parallel()
	l := New(Options{Queue: 10000})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			l.Log("e", strconv.Itoa(i), "")
		}
	}()
	time.Sleep(time.Millisecond)
	past, ch := l.Subscribe(t.Context(), Filter{Since: time.Unix(0, 0)})
	wg.Wait()
	seq := past
	for len(ch) > 0 {
		seq = append(seq, <-ch)
	}
	for i := 1; i < len(seq); i++ {
		a, _ := strconv.Atoi(seq[i-1].ID)
		b, _ := strconv.Atoi(seq[i].ID)
		if b != a+1 {
			t.Fatalf("gap or overlap at %d: %s then %s", i, seq[i-1].ID, seq[i].ID)
		}
	}
	if last := seq[len(seq)-1].ID; last != "1999" {
		t.Errorf("last %s", last)
	}
}

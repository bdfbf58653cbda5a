package events

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/api/server"
	"github.com/pluggd/pluggd/core/events"
)

// newServer serves the route over real HTTP, with the API server's
// middleware and error handler and a real event log.
func newServer(t *testing.T) (*httptest.Server, *events.Log) {
	t.Helper()
	full := strings.Repeat("ab", 32)
	log := events.New(events.Options{ResolveContainer: func(ref string) (string, bool) {
		if strings.HasPrefix(full, ref) || ref == "web" {
			return full, true
		}
		return "", false
	}})
	s := server.New(server.Options{Logger: slog.New(slog.DiscardHandler)})
	Register(s.Group(), log)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, log
}

// open starts a GET and returns once the response headers are in, as
// today's docker CLI does before it starts a container.
func open(t *testing.T, ts *httptest.Server, query string) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1.19/events?"+query, nil)
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		got <- result{resp, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.resp.Body.Close() })
		return r.resp, bufio.NewReader(r.resp.Body)
	case <-time.After(5 * time.Second):
		t.Fatal("no response headers while no event happened")
		return nil, nil
	}
}

// line reads one event line as a generic map, so the test sees the keys.
func line(t *testing.T, r *bufio.Reader) map[string]any {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	got := make(chan result, 1)
	go func() {
		s, err := r.ReadString('\n')
		got <- result{s, err}
	}()
	select {
	case res := <-got:
		if res.err != nil {
			t.Fatalf("read: %v (%q)", res.err, res.s)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(res.s), &m); err != nil {
			t.Fatalf("%q: %v", res.s, err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no event line within 5s")
		return nil
	}
}

func TestHeadersFlushedBeforeAnyEvent(t *testing.T) {
	t.Parallel()
	ts, log := newServer(t)
	resp, r := open(t, ts, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	log.Log("create", "abc", "busybox")
	m := line(t, r)
	if len(m) != 4 || m["status"] != "create" || m["id"] != "abc" || m["from"] != "busybox" || m["time"].(float64) < 1 {
		t.Errorf("v1.19 shape: %v", m)
	}
}

func TestSinceReplaysThenStreams(t *testing.T) {
	t.Parallel()
	ts, log := newServer(t)
	log.Log("untag", "imgid", "")
	log.Log("delete", "imgid", "")
	_, r := open(t, ts, "since=0")
	if m := line(t, r); m["status"] != "untag" || len(m) != 3 {
		t.Errorf("first replayed: %v (an image event has no from)", m)
	}
	if m := line(t, r); m["status"] != "delete" {
		t.Errorf("second replayed: %v", m)
	}
	log.LogAttributes("die", "abc", "busybox", map[string]string{"exitCode": "3"})
	m := line(t, r)
	actor, _ := m["Actor"].(map[string]any)
	attrs, _ := actor["Attributes"].(map[string]any)
	if m["status"] != "die" || attrs["exitCode"] != "3" {
		t.Errorf("die with exitCode: %v", m)
	}
}

func TestUntilEndsStream(t *testing.T) {
	t.Parallel()
	ts, log := newServer(t)
	log.Log("create", "abc", "busybox")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	_, r := open(t, ts, "since=0&until="+now)
	if m := line(t, r); m["status"] != "create" {
		t.Errorf("replayed: %v", m)
	}
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("the stream must end after the replay: %q %v", rest, err)
	}

	// A future until (with the fraction current clients send) ends the
	// stream when it comes.
	until := time.Now().Add(1500 * time.Millisecond)
	_, r = open(t, ts, "until="+strconv.FormatInt(until.Unix(), 10)+".000000000")
	log.Log("start", "abc", "busybox")
	if m := line(t, r); m["status"] != "start" {
		t.Errorf("live: %v", m)
	}
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("the stream must end at until: %q %v", rest, err)
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	ts, log := newServer(t)
	full := strings.Repeat("ab", 32)
	log.Log("create", "other", "busybox")
	log.Log("create", full, "busybox:1")
	log.Log("start", full, "busybox:1")
	log.Log("die", full, "busybox:1")
	log.Log("tag", "busybox:latest", "")

	cases := map[string]string{
		// The older list form, as API ≤ 1.21 clients and today's CLI at
		// 1.19 send it, with the type key that CLI adds.
		`{"container":["abab"],"type":["container"],"event":["die","start"]}`: "start die",
		// The newer set form.
		`{"container":{"web":true},"event":{"start":true,"die":false}}`: "start",
		`{"image":["busybox"],"event":["create","tag"]}`:                "create create tag",
	}
	for filters, want := range cases {
		q := url.Values{"since": {"0"}, "until": {strconv.FormatInt(time.Now().Unix(), 10)}, "filters": {filters}}
		_, r := open(t, ts, q.Encode())
		var got []string
		for {
			s, err := r.ReadString('\n')
			if err != nil {
				break
			}
			var m map[string]any
			json.Unmarshal([]byte(s), &m)
			got = append(got, m["status"].(string))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %v, want %s", filters, got, want)
		}
	}
}

func TestBadParameters(t *testing.T) {
	t.Parallel()
	ts, _ := newServer(t)
	for _, q := range []string{"filters=%7Bnot", "filters=%5B1%5D", "since=yesterday", "until=1.x"} {
		resp, err := http.Get(ts.URL + "/v1.19/events?" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || len(body) == 0 {
			t.Errorf("%s: %d %q", q, resp.StatusCode, body)
		}
	}
}

// A client that hangs up is unsubscribed: nothing keeps its queue.
func TestClientGoneUnsubscribes(t *testing.T) {
	t.Parallel()
	ts, log := newServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := log.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers", n)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for log.Subscribers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("still subscribed after the client left")
		}
		log.Log("create", "x", "y") // a write notices the closed connection
		time.Sleep(10 * time.Millisecond)
	}
}

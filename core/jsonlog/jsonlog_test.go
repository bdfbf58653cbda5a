package jsonlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	cases := [][]byte{
		nil,
		[]byte("plain ascii line\n"),
		[]byte(`quote " backslash \ slash / <html> & amp`),
		[]byte("\u2028\u2029 é ü 日本 🎉"),
		{0xff, 0xfe, 'a', 0xc3, 0x28, 0xe2, 0x82, 0xed, 0xa0, 0x80, 0x7f},
	}
	var all []byte
	for b := 0; b < 256; b++ {
		all = append(all, byte(b))
	}
	cases = append(cases, all)
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		cases = append(cases, b)
	}
	for _, c := range cases {
		want, err := json.Marshal(string(c))
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, c); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json says %s", c, got, want)
		}
		// And the reader's fast unescape agrees with encoding/json.
		var s string
		json.Unmarshal(want, &s)
		u, ok := unescape(want[1 : len(want)-1])
		if !ok || string(u) != s {
			t.Fatalf("unescape(%s) = %q, %v; want %q", want, u, ok, s)
		}
	}
}

func TestRecordFormatIsDocker17(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	ts := time.Date(2015, 6, 16, 10, 0, 1, 120000000, time.FixedZone("x", 3600))
	w.WriteRecord("stdout", []byte("hi\n"), ts)
	want := `{"log":"hi\n","stream":"stdout","time":"2015-06-16T09:00:01.12Z"}` + "\n"
	if buf.String() != want {
		t.Fatalf("got %s want %s", buf.String(), want)
	}
	// encoding/json produces the same bytes for the same record.
	j, _ := json.Marshal(struct {
		Log    string    `json:"log"`
		Stream string    `json:"stream"`
		Time   time.Time `json:"time"`
	}{"hi\n", "stdout", ts.UTC()})
	if string(j)+"\n" != want {
		t.Fatalf("encoding/json says %s", j)
	}
}

func readAll(t *testing.T, path string, opts ReadOptions) []Record {
	t.Helper()
	var out []Record
	err := Read(context.Background(), path, opts, func(r Record) error {
		r.Line = bytes.Clone(r.Line)
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTripSplitsOnNewlines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(f)
	out, errw := w.Stream("stdout"), w.Stream("stderr")
	// Pieces that cut lines anywhere, binary included.
	out.Write([]byte("first li"))
	out.Write([]byte("ne\nsecond\n\nthi"))
	errw.Write([]byte("an error\x00\x01\xff\n"))
	out.Write([]byte("rd\nno newline at end"))
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	errw.Close()
	f.Close()
	recs := readAll(t, path, ReadOptions{Tail: TailAll})
	want := []struct{ stream, line string }{
		{"stdout", "first line\n"}, {"stdout", "second\n"}, {"stdout", "\n"},
		{"stderr", "an error\x00\x01\ufffd\n"}, {"stdout", "third\n"}, {"stdout", "no newline at end\n"},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records: %q", len(recs), recs)
	}
	for i, r := range recs {
		if r.Stream != want[i].stream || string(r.Line) != want[i].line {
			t.Errorf("record %d = %s %q, want %s %q", i, r.Stream, r.Line, want[i].stream, want[i].line)
		}
		if time.Since(r.Time) > time.Minute || r.Time.Location() != time.UTC {
			t.Errorf("record %d time %v", i, r.Time)
		}
	}
}

func TestLongLinesSplitAtMaxLineAndConcatenateBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, _ := os.Create(path)
	w := NewWriter(f)
	s := w.Stream("stdout")
	long := bytes.Repeat([]byte("x"), 3*MaxLine+100)
	data := append(append([]byte("short\n"), long...), "\nend\n"...)
	for p := data; len(p) > 0; {
		n := min(len(p), 1000)
		s.Write(p[:n])
		p = p[n:]
	}
	s.Close()
	f.Close()
	var got []byte
	for _, r := range readAll(t, path, ReadOptions{Tail: TailAll}) {
		if len(r.Line) > MaxLine {
			t.Fatalf("record of %d bytes", len(r.Line))
		}
		got = append(got, r.Line...)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("concatenated records differ from the output")
	}
}

// writeBig writes n bytes of output as lines of varied length and returns
// the output's checksum and line count.
func writeBig(t testing.TB, path string, n int) ([32]byte, int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f)
	s := w.Stream("stdout")
	h := sha256.New()
	chunk := make([]byte, 32<<10)
	r := rand.New(rand.NewPCG(3, 4))
	lines := 0
	for written := 0; written < n; written += len(chunk) {
		for i := range chunk {
			if r.IntN(60) == 0 {
				chunk[i] = '\n'
			} else {
				chunk[i] = byte('a' + r.IntN(26))
			}
		}
		chunk[len(chunk)-1] = '\n'
		lines += bytes.Count(chunk, []byte{'\n'})
		h.Write(chunk)
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	return [32]byte(h.Sum(nil)), lines
}

func TestHundredMegabytesWriteReadTail(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	path := filepath.Join(t.TempDir(), "log")
	start := time.Now()
	sum, lines := writeBig(t, path, 100<<20)
	t.Logf("wrote 100 MB of output (%d lines) in %v", lines, time.Since(start))
	if d := time.Since(start); d > 10*time.Second && !raceEnabled {
		t.Errorf("writing 100 MB took %v", d)
	}

	start = time.Now()
	h := sha256.New()
	n := 0
	err := Read(context.Background(), path, ReadOptions{Tail: TailAll}, func(r Record) error {
		h.Write(r.Line)
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("read %d records in %v", n, time.Since(start))
	if n != lines || [32]byte(h.Sum(nil)) != sum {
		t.Fatalf("read back %d lines (want %d), checksum match %v", n, lines, [32]byte(h.Sum(nil)) == sum)
	}

	start = time.Now()
	var tail []Record
	Read(context.Background(), path, ReadOptions{Tail: 10}, func(r Record) error {
		tail = append(tail, Record{Line: bytes.Clone(r.Line)})
		return nil
	})
	d := time.Since(start)
	t.Logf("tail 10 of a 100 MB log in %v", d)
	if len(tail) != 10 || d > 100*time.Millisecond && !raceEnabled {
		t.Fatalf("tail=10 gave %d records in %v", len(tail), d)
	}
	if last := tail[9].Line; last[len(last)-1] != '\n' {
		t.Fatalf("last record %q", last)
	}
}

func TestTailAndSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, _ := os.Create(path)
	w := NewWriter(f)
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		w.WriteRecord("stdout", fmt.Appendf(nil, "line %d\n", i), base.Add(time.Duration(i)*time.Second))
	}
	// A record being written: not complete, not read.
	f.WriteString(`{"log":"partial`)
	f.Close()
	for _, tc := range []struct {
		tail  int
		since time.Time
		first string
		n     int
	}{
		{TailAll, time.Time{}, "line 0\n", 100},
		{0, time.Time{}, "", 0},
		{1, time.Time{}, "line 99\n", 1},
		{3, time.Time{}, "line 97\n", 3},
		{1000, time.Time{}, "line 0\n", 100},
		{TailAll, base.Add(90 * time.Second), "line 90\n", 10},
		{5, base.Add(97 * time.Second), "line 97\n", 3},
	} {
		recs := readAll(t, path, ReadOptions{Tail: tc.tail, Since: tc.since})
		if len(recs) != tc.n || (tc.n > 0 && string(recs[0].Line) != tc.first) {
			t.Errorf("tail %d since %v: %d records starting %q", tc.tail, tc.since, len(recs), recs)
		}
	}
}

func TestForeignKeyOrderIsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	os.WriteFile(path, []byte(`{"stream":"stderr","time":"2015-01-01T00:00:00Z","log":"x\u003c\n"}`+"\n"), 0o600)
	recs := readAll(t, path, ReadOptions{Tail: TailAll})
	if len(recs) != 1 || recs[0].Stream != "stderr" || string(recs[0].Line) != "x<\n" {
		t.Fatalf("%q", recs)
	}
}

func TestFollowSeesAppendedLinesAndStopsAfterExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, _ := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	defer f.Close()
	w := NewWriter(f)
	s := w.Stream("stdout")
	s.Write([]byte("before\n"))

	exited := make(chan struct{})
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), path, ReadOptions{Tail: TailAll, Follow: true, Exited: exited}, func(r Record) error {
			got <- string(r.Line)
			return nil
		})
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case l := <-got:
			if l != want {
				t.Fatalf("got %q want %q", l, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no %q within 2s", want)
		}
	}
	expect("before\n")
	start := time.Now()
	s.Write([]byte("after\n"))
	expect("after\n")
	t.Logf("an appended line reached the follower in %v", time.Since(start))
	// A line written in two pieces arrives once, whole.
	f.WriteString(`{"log":"pie`)
	time.Sleep(100 * time.Millisecond)
	f.WriteString(`ces\n","stream":"stdout","time":"2015-01-01T00:00:00Z"}` + "\n")
	expect("pieces\n")
	s.Write([]byte("last\n"))
	close(exited)
	expect("last\n")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("follow did not stop after exit")
	}
}

func TestFollowStopsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	os.WriteFile(path, nil, 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, path, ReadOptions{Tail: TailAll, Follow: true}, func(Record) error { return nil })
	}()
	time.Sleep(60 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("err %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("follow ignored cancellation")
	}
}

func BenchmarkStreamWrite(b *testing.B) {
	line := []byte(strings.Repeat("0123456789", 7) + "\n")
	chunk := bytes.Repeat(line, (32<<10)/len(line))
	w := NewWriter(discard{})
	s := w.Stream("stdout")
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		s.Write(chunk)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

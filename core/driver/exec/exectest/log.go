package exectest

import (
	"bytes"
	"strings"
	"time"

	"github.com/pluggd/pluggd/core/jsonlog"
)

func logChecks() []check {
	return []check{
		{name: "SameAsAttach", run: checkLogSameAsAttach},
		{name: "ManyLines", run: checkLogManyLines},
		{name: "Terminal", run: needTty(checkLogTerminal)},
	}
}

// logRecords reads the json-file log at path (complete once the
// supervisor's Wait answered, which output waits for).
func (h *harness) logRecords(path string) []jsonlog.Record {
	h.t.Helper()
	var recs []jsonlog.Record
	err := jsonlog.Read(h.ctx, path, jsonlog.ReadOptions{Tail: jsonlog.TailAll}, func(r jsonlog.Record) error {
		r.Line = bytes.Clone(r.Line) // valid only during the callback
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		h.t.Fatalf("reading the json-file log: %v", err)
	}
	return recs
}

// byStream concatenates the log's lines per stream, as docker logs shows
// them.
func byStream(recs []jsonlog.Record) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		out[r.Stream] += string(r.Line)
	}
	return out
}

// checkLogSameAsAttach: the log holds what the attached client got, one
// record per line, each stream apart, with times of when it ran.
func checkLogSameAsAttach(h *harness) {
	spec := h.spec("sh", "-c", `echo out1; echo err1 >&2; printf "in "; printf "pieces\n"; echo err2 >&2; echo out3`)
	before := time.Now()
	stdout, stderr, _ := h.output(spec)
	after := time.Now()
	recs := h.logRecords(spec.LogPath)
	got := byStream(recs)
	if got["stdout"] != stdout || got["stderr"] != stderr {
		h.t.Errorf("the log holds stdout %q, stderr %q; the attachment got %q, %q", got["stdout"], got["stderr"], stdout, stderr)
	}
	want := map[string][]string{"stdout": {"out1\n", "in pieces\n", "out3\n"}, "stderr": {"err1\n", "err2\n"}}
	lines := map[string][]string{}
	for _, r := range recs {
		lines[r.Stream] = append(lines[r.Stream], string(r.Line))
		if r.Time.Before(before.Add(-time.Second)) || r.Time.After(after.Add(time.Second)) {
			h.t.Errorf("record %q has time %v, outside the run [%v, %v]", r.Line, r.Time, before, after)
		}
	}
	for stream, w := range want {
		if strings.Join(lines[stream], "|") != strings.Join(w, "|") {
			h.t.Errorf("%s records %q, want %q", stream, lines[stream], w)
		}
	}
	if len(lines) != 2 {
		h.t.Errorf("the log has streams %v, want only stdout and stderr", keys(lines))
	}
}

// checkLogManyLines: no line is lost or reordered in a long log.
func checkLogManyLines(h *harness) {
	spec := h.spec("seq", "1", "50000")
	stdout, _, _ := h.output(spec)
	recs := h.logRecords(spec.LogPath)
	if len(recs) != 50000 {
		h.t.Errorf("the log has %d records, want 50000", len(recs))
	}
	if got := byStream(recs)["stdout"]; got != stdout || got != seq(1, 50000) {
		h.t.Errorf("the log's stdout (%d bytes) differs from seq's output (%d bytes attached, first difference at %d)", len(got), len(stdout), firstDiff([]byte(got), []byte(seq(1, 50000))))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Time.Before(recs[i-1].Time) {
			h.t.Errorf("record %d (%q) is older than the one before it", i, recs[i].Line)
			break
		}
	}
}

// checkLogTerminal: a terminal's output is logged as stdout, with its
// "\r\n" line ends.
func checkLogTerminal(h *harness) {
	spec := h.spec("sh", "-c", "echo out; echo err >&2")
	spec.Process.Terminal = true
	stdout, _, _ := h.output(spec)
	got := byStream(h.logRecords(spec.LogPath))
	if got["stdout"] != stdout || got["stdout"] != "out\r\nerr\r\n" || len(got) != 1 {
		h.t.Errorf("the log of a terminal holds %q, want only stdout %q (the attachment got %q)", got, "out\r\nerr\r\n", stdout)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

package storagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/test/require"
)

// byteExactCase is a layer stream with an unusual but valid feature. Every
// driver must apply it; a driver with Capabilities.ByteExactDiff must also
// give back the very same bytes from Diff.
type byteExactCase struct {
	name    string
	parent  []tarEntry // the parent layer's entries, or nil for none
	entries []tarEntry
	// raw turns entries into the stream; nil means buildTar.
	raw func(t testing.TB, entries []tarEntry) []byte
	// needs checks the host can hold the entries (for example xattrs).
	needs func(t *testing.T)
}

func byteExactChecks() []check {
	var checks []check
	for _, c := range byteExactCases() {
		checks = append(checks, check{c.name, func(h *harness) { checkByteExact(h, c) }})
	}
	return append(checks, check{"MountedLayerRoundTrip", checkMountedLayerRoundTrip})
}

func byteExactCases() []byteExactCase {
	long := func(prefix string, n int) string {
		return prefix + strings.Repeat("x", n-len(prefix))
	}
	longDir := strings.Repeat("d", 90) + "/" + strings.Repeat("e", 60) // 151 bytes, fits USTAR prefix+name
	fractional := time.Date(2015, 7, 14, 10, 0, 0, 123456789, time.UTC)
	return []byteExactCase{
		{
			name: "PAXRecords",
			entries: []tarEntry{
				regular("comment", "C").with(func(hd *tar.Header) {
					hd.Format = tar.FormatPAX
					hd.PAXRecords = map[string]string{"comment": "written by the pluggd conformance suite"}
				}),
				regular("fractional-mtime", "F").with(func(hd *tar.Header) {
					hd.Format, hd.ModTime = tar.FormatPAX, fractional
				}),
				regular(long("pax-long-name-", 180), "L").with(func(hd *tar.Header) { hd.Format = tar.FormatPAX }),
				xattrEntry(regular("xattr", "X"), map[string]string{"user.pluggd": "v"}),
				regular("unicode-ünïcødé-名前", "U").with(func(hd *tar.Header) { hd.Format = tar.FormatPAX }),
			},
			needs: requireXattrs,
		},
		{
			name: "PAXGlobalHeader",
			// git archive starts every tarball with one.
			entries: []tarEntry{
				{hdr: tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader, Format: tar.FormatPAX,
					PAXRecords: map[string]string{"comment": "3f1c1e6e2cbd6c0e8e7a57d9b3f0b5b1c2d4e6f8"}}},
				directory("src"),
				regular("src/main.go", "package main\n"),
			},
		},
		{
			name: "GNULongNames",
			entries: []tarEntry{
				directory(long("gnu-dir-", 120)).with(gnu),
				regular(long("gnu-dir-", 120)+"/"+long("file-", 130), "long").with(gnu),
				symlink("short-link", long("/gnu-target-", 140)).with(gnu),
				hardlink(long("gnu-hardlink-", 110), long("gnu-dir-", 120)+"/"+long("file-", 130)).with(gnu),
			},
		},
		{
			name: "USTARPrefix",
			entries: []tarEntry{
				directory(strings.Repeat("d", 90)).with(ustar),
				directory(longDir).with(ustar),
				regular(longDir+"/"+strings.Repeat("f", 80), "prefixed").with(ustar),
			},
		},
		{
			name: "OldStyleNumbers",
			entries: []tarEntry{
				regular("old-style", "fields end in a space, as old tars wrote them").with(ustar),
				directory("d").with(ustar),
				regular("d/n", strings.Repeat("n", 700)).with(ustar),
			},
			raw: rawOldStyleNumbers,
		},
		{
			name: "JunkInPadding",
			entries: []tarEntry{
				regular("padded", "ten bytes!").with(ustar),
				regular("after", "the entry after the junk").with(ustar),
			},
			raw: rawJunkInPadding,
		},
		{
			name: "ExtraEndBlocks",
			// GNU tar pads archives to its 10240-byte record size.
			entries: []tarEntry{regular("f", "blocked to 10240 bytes"), directory("d")},
			raw: func(t testing.TB, entries []tarEntry) []byte {
				b := buildTar(t, entries...)
				b = append(b, make([]byte, 2*512)...)
				return append(b, make([]byte, 10240-len(b)%10240)...)
			},
		},
		{
			name:    "EmptyLayer",
			entries: nil,
		},
		{
			name: "Hardlinks",
			entries: []tarEntry{
				regular("f", "linked"),
				hardlink("l1", "f"),
				directory("d"),
				hardlink("d/l2", "f"),
				regular("empty", ""),
				hardlink("empty-link", "empty"),
			},
		},
		{
			name: "ImplicitDirectories",
			// Some image builders omit directory entries.
			entries: []tarEntry{regular("a/b/c/file", "deep"), regular("a/other", "o")},
		},
		{
			name:   "Whiteouts",
			parent: []tarEntry{regular("gone", "g"), directory("dir"), regular("dir/a", "a"), directory("opq"), regular("opq/old", "o"), directory("redo"), regular("redo/old", "r")},
			entries: []tarEntry{
				whiteout("gone"),
				whiteout("dir/a"),
				directory("opq"),
				opaque("opq"),
				regular("opq/new", "n"),
				whiteout("redo"),
				directory("redo"),
				regular("redo/new", "r2"),
			},
		},
	}
}

func gnu(hd *tar.Header)   { hd.Format = tar.FormatGNU }
func ustar(hd *tar.Header) { hd.Format = tar.FormatUSTAR }

// rawOldStyleNumbers rewrites the numeric fields of every header the way
// pre-POSIX tars did: space terminated, and the checksum as six digits, a
// NUL and a space. Readers accept both; a driver that re-encodes headers
// loses them.
func rawOldStyleNumbers(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	offsets := writeEntries(t, tw, &buf, entries)
	must(t, tw.Close())
	b := buf.Bytes()
	for _, off := range offsets {
		blk := b[off : off+512]
		for _, f := range []struct{ from, to int }{{100, 108}, {108, 116}, {116, 124}, {124, 136}, {136, 148}} {
			field := blk[f.from:f.to]
			v, err := strconv.ParseInt(strings.Trim(string(field), " \x00"), 8, 64)
			if err != nil {
				t.Fatalf("header field %q: %v", field, err)
			}
			copy(field, fmt.Sprintf("%0*o ", len(field)-1, v))
		}
		copy(blk[148:156], "        ")
		var sum int64
		for _, c := range blk {
			sum += int64(c)
		}
		copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	}
	return b
}

// rawJunkInPadding fills the padding after the first entry's content with
// non-zero bytes, which readers skip without looking.
func rawJunkInPadding(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	offsets := writeEntries(t, tw, &buf, entries)
	must(t, tw.Close())
	b := buf.Bytes()
	size := int(entries[0].hdr.Size)
	start := offsets[0] + 512 + size
	end := offsets[0] + 512 + (size+511)/512*512
	for i := start; i < end; i++ {
		b[i] = "JUNK"[i%4]
	}
	return b
}

func checkByteExact(h *harness, c byteExactCase) {
	t := h.t
	if c.needs != nil {
		c.needs(t)
	}
	raw := c.raw
	if raw == nil {
		raw = func(t testing.TB, entries []tarEntry) []byte { return buildTar(t, entries...) }
	}
	stream := raw(t, c.entries)
	parent := ""
	if c.parent != nil {
		parent = h.layer("", c.parent...)
	}
	id := h.create(parent)
	h.apply(id, parent, stream)

	// Every driver must understand the stream.
	root := h.mount(id)
	for _, e := range c.entries {
		name := cleanName(e.hdr.Name)
		last := name[strings.LastIndex(name, "/")+1:]
		if e.hdr.Typeflag == tar.TypeReg && !strings.HasPrefix(last, whiteoutPrefix) {
			assertContent(t, root, name, string(e.body))
		}
		if e.hdr.Typeflag == tar.TypeXGlobalHeader {
			assertAbsent(t, root, name)
		}
	}

	if !h.info.Capabilities.ByteExactDiff {
		require.SkipOrFail(t, "byte-exact-diff", "the driver does not report Capabilities.ByteExactDiff, so its Diff need not reproduce the applied bytes")
	}
	got := h.diff(id, parent)
	assertSameBytes(t, "Diff of a layer filled by ApplyDiff", stream, got)

	// Diff → ApplyDiff into a new layer → Diff gives the same bytes again.
	again := h.create(parent)
	h.apply(again, parent, got)
	assertSameBytes(t, "Diff of a layer filled by ApplyDiff of a Diff", got, h.diff(again, parent))
}

// checkMountedLayerRoundTrip: a layer written through Get (a container
// being committed) has no applied stream to reproduce, but its Diff
// applied to a new layer must give back the same Diff.
func checkMountedLayerRoundTrip(h *harness) {
	t := h.t
	if !h.info.Capabilities.ByteExactDiff {
		require.SkipOrFail(t, "byte-exact-diff", "the driver does not report Capabilities.ByteExactDiff, so its Diff need not reproduce the applied bytes")
	}
	parent := h.layer("", regular("gone", "g"), directory("dir"), regular("dir/a", "a"), regular("mod", "m"))
	for _, p := range []string{"", parent} {
		id := h.create(p)
		root := h.get(id)
		must(t, os.MkdirAll(root+"/new/sub", 0o755))
		must(t, osWriteFile(root+"/new/sub/f", strings.Repeat("data", 300)))
		must(t, os.Symlink("sub/f", root+"/new/link"))
		must(t, os.Link(root+"/new/sub/f", root+"/new/hard"))
		if p != "" {
			must(t, os.Remove(root+"/gone"))
			must(t, os.RemoveAll(root+"/dir"))
			must(t, osWriteFile(root+"/mod", "modified"))
		}
		h.put(id)
		first := h.diff(id, p)
		again := h.create(p)
		h.apply(again, p, first)
		assertSameBytes(t, "Diff of a layer rebuilt from a Diff", first, h.diff(again, p))
	}
}

// assertSameBytes reports where two streams first differ, by tar block.
func assertSameBytes(t testing.TB, what string, want, got []byte) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	blk := i / 512 * 512
	excerpt := func(b []byte) string {
		if blk >= len(b) {
			return "(end of stream)"
		}
		// Runs of NULs shown as "|" keep a header block readable.
		var parts []string
		for _, f := range bytes.FieldsFunc(b[blk:min(blk+512, len(b))], func(r rune) bool { return r == 0 }) {
			parts = append(parts, string(f))
		}
		return strconv.Quote(strings.Join(parts, "|"))
	}
	t.Errorf("%s is not the applied stream: %d bytes, want %d; first difference at byte %d (block %d, offset %d in it)\n  want block: %s\n  got block:  %s",
		what, len(got), len(want), i, blk/512, i-blk, excerpt(want), excerpt(got))
}

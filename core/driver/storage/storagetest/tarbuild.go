package storagetest

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"testing"
	"time"
)

// Whiteout names of Docker's layer format (see package storage).
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// epoch is the mtime of entries that do not set their own, so streams are
// reproducible and mtimes are visibly not "now".
func epoch() time.Time { return time.Date(2015, 7, 14, 10, 0, 0, 0, time.UTC) }

// tarEntry is one entry of a layer stream built by a check.
type tarEntry struct {
	hdr  tar.Header
	body []byte
}

// base gives an entry the current user as owner, so checks that are not
// about ownership also pass for a driver running without root.
func base(name string, typ byte, mode int64) tarEntry {
	return tarEntry{hdr: tar.Header{
		Name:     name,
		Typeflag: typ,
		Mode:     mode,
		Uid:      os.Getuid(),
		Gid:      os.Getgid(),
		ModTime:  epoch(),
	}}
}

func regular(name, body string) tarEntry {
	e := base(name, tar.TypeReg, 0o644)
	e.hdr.Size = int64(len(body))
	e.body = []byte(body)
	return e
}

func directory(name string) tarEntry {
	return base(strings.TrimSuffix(name, "/")+"/", tar.TypeDir, 0o755)
}

func symlink(name, target string) tarEntry {
	e := base(name, tar.TypeSymlink, 0o777)
	e.hdr.Linkname = target
	return e
}

func hardlink(name, target string) tarEntry {
	e := base(name, tar.TypeLink, 0o644)
	e.hdr.Linkname = target
	return e
}

func fifo(name string) tarEntry { return base(name, tar.TypeFifo, 0o600) }

func charDevice(name string, major, minor int64) tarEntry {
	e := base(name, tar.TypeChar, 0o666)
	e.hdr.Devmajor, e.hdr.Devminor = major, minor
	return e
}

// whiteout is the entry deleting p (a path in the parents).
func whiteout(p string) tarEntry {
	dir, file := path.Split(p)
	return base(dir+whiteoutPrefix+file, tar.TypeReg, 0o600)
}

// opaque is the entry hiding everything the parents have below dir.
func opaque(dir string) tarEntry {
	return base(path.Join(dir, opaqueMarker), tar.TypeReg, 0o600)
}

// with returns e changed by f.
func (e tarEntry) with(f func(h *tar.Header)) tarEntry {
	f(&e.hdr)
	return e
}

// buildTar writes entries as a tar stream with two end blocks.
func buildTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	writeEntries(t, tw, &buf, entries)
	if err := tw.Close(); err != nil {
		t.Fatalf("building tar: %v", err)
	}
	return buf.Bytes()
}

// writeEntries writes entries to tw, which writes to buf, and returns the
// offset in buf where each entry's first header block starts (for checks
// that then alter the raw bytes).
func writeEntries(t testing.TB, tw *tar.Writer, buf *bytes.Buffer, entries []tarEntry) []int {
	t.Helper()
	offsets := make([]int, len(entries))
	for i, e := range entries {
		// Flush pads the previous entry, so buf.Len() is a block boundary.
		if err := tw.Flush(); err != nil {
			t.Fatalf("building tar: %v", err)
		}
		offsets[i] = buf.Len()
		hdr := e.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("building tar: header %q: %v", e.hdr.Name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatalf("building tar: body of %q: %v", e.hdr.Name, err)
		}
	}
	return offsets
}

// parsedEntry is one entry read back from a driver's Diff.
type parsedEntry struct {
	hdr  *tar.Header
	body []byte
}

// parseTar reads a stream into entries keyed by cleaned name ("dir", not
// "./dir/"), failing the test when it is not a valid tar.
func parseTar(t testing.TB, what string, data []byte) (map[string]parsedEntry, []string) {
	t.Helper()
	entries := map[string]parsedEntry{}
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, names
		}
		if err != nil {
			t.Fatalf("%s is not a valid tar stream: %v", what, err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: reading %q: %v", what, hdr.Name, err)
		}
		name := cleanName(hdr.Name)
		if name == "." {
			continue // some tools write the layer root itself; it changes nothing
		}
		if _, dup := entries[name]; dup {
			t.Errorf("%s has %q twice", what, name)
		}
		entries[name] = parsedEntry{hdr: hdr, body: body}
		names = append(names, name)
	}
}

func cleanName(name string) string {
	return path.Clean(strings.TrimPrefix(strings.TrimPrefix(name, "/"), "./"))
}

// tarHeader is short for the header type in entry modifiers.
type tarHeader = tar.Header

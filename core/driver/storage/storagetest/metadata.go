package storagetest

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/test/require"

	"golang.org/x/sys/unix"
)

func metadataChecks() []check {
	return []check{
		{"Hardlinks", checkHardlinks},
		{"Symlinks", checkSymlinks},
		{"UserXattrs", checkUserXattrs},
		{"TrustedXattrs", checkTrustedXattrs},
		{"SpecialFiles", checkSpecialFiles},
		{"Permissions", checkPermissions},
		{"Ownership", checkOwnership},
		{"Mtimes", checkMtimes},
	}
}

// inBothPositions applies entries as a layer without parent and as a layer
// on a parent (drivers often store the two differently, as overlay does
// image and container layers), runs assert on each mounted layer, then
// checks that Diff carries the entries' metadata and rebuilds the layer.
func inBothPositions(h *harness, entries []tarEntry, assert func(t *testing.T, root string)) {
	parent := h.layer("", regular("parentfile", "P"), directory("pd"))
	for _, pos := range []struct{ name, parent string }{{"base", ""}, {"child", parent}} {
		h.t.Run(pos.name, func(t *testing.T) {
			h := h.sub(t)
			id := h.layer(pos.parent, entries...)
			root := h.get(id)
			assert(t, root)
			h.put(id)
			assertDiffCarries(t, h.diff(id, pos.parent), entries)
			h.assertDiffRoundTrips(id, pos.parent)
		})
	}
}

// assertDiffCarries checks that every applied entry comes out of Diff
// with the same metadata, and that no driver bookkeeping leaks into it.
func assertDiffCarries(t testing.TB, diff []byte, applied []tarEntry) {
	t.Helper()
	got, _ := parseTar(t, "Diff", diff)
	for _, e := range got {
		for k := range e.hdr.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.trusted.overlay.") {
				t.Errorf("Diff carries the overlay filesystem's own attribute %s on %s", k, e.hdr.Name)
			}
		}
	}
	// Which name of a hardlinked file is written in full and which as a
	// link depends on the driver's walk order.
	linked := map[string]bool{}
	for _, a := range applied {
		if a.hdr.Typeflag == tar.TypeLink {
			linked[cleanName(a.hdr.Name)] = true
			linked[cleanName(a.hdr.Linkname)] = true
		}
	}
	for _, a := range applied {
		w := a.hdr
		name := cleanName(w.Name)
		g, ok := got[name]
		if !ok {
			t.Errorf("Diff lacks %q; it has %q", name, sortedKeys(got))
			continue
		}
		gh := g.hdr
		wantType := w.Typeflag
		if linked[name] {
			if gh.Typeflag != tar.TypeLink && gh.Typeflag != tar.TypeReg {
				t.Errorf("Diff has hardlinked %q as type %q, want a regular file or a hardlink", name, gh.Typeflag)
			}
			if gh.Typeflag == tar.TypeLink && !linked[cleanName(gh.Linkname)] {
				t.Errorf("Diff has %q as a hardlink to %q, which is not one of its names", name, gh.Linkname)
			}
			wantType = gh.Typeflag
		} else if gh.Typeflag != wantType {
			t.Errorf("Diff has %q as type %q, want %q", name, gh.Typeflag, wantType)
		}
		if wantType == tar.TypeSymlink && gh.Linkname != w.Linkname {
			t.Errorf("Diff has symlink %q pointing to %q, want %q", name, gh.Linkname, w.Linkname)
		}
		if wantType == tar.TypeReg && !linked[name] && string(g.body) != string(a.body) {
			t.Errorf("Diff has %q with content %q, want %q", name, g.body, a.body)
		}
		if wantType != tar.TypeSymlink && gh.Mode&0o7777 != w.Mode&0o7777 {
			t.Errorf("Diff has %q with mode %#o, want %#o", name, gh.Mode&0o7777, w.Mode&0o7777)
		}
		if gh.Uid != w.Uid || gh.Gid != w.Gid {
			t.Errorf("Diff has %q owned by %d:%d, want %d:%d", name, gh.Uid, gh.Gid, w.Uid, w.Gid)
		}
		if wantType != tar.TypeLink && gh.ModTime.Unix() != w.ModTime.Unix() {
			t.Errorf("Diff has %q with mtime %v, want %v", name, gh.ModTime.UTC(), w.ModTime.UTC())
		}
		if (wantType == tar.TypeChar || wantType == tar.TypeBlock) && (gh.Devmajor != w.Devmajor || gh.Devminor != w.Devminor) {
			t.Errorf("Diff has device %q as %d:%d, want %d:%d", name, gh.Devmajor, gh.Devminor, w.Devmajor, w.Devminor)
		}
		for k, v := range w.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") && gh.PAXRecords[k] != v {
				t.Errorf("Diff has %q with %s = %q, want %q", name, k, gh.PAXRecords[k], v)
			}
		}
	}
}

func checkHardlinks(h *harness) {
	entries := []tarEntry{
		regular("f", "shared content"),
		hardlink("l1", "f"),
		directory("d"),
		hardlink("d/l2", "f"),
		regular("g", "other"),
		hardlink("d/g2", "g"),
	}
	inBothPositions(h, entries, func(t *testing.T, root string) {
		f := lstat(t, root+"/f")
		for _, name := range []string{"l1", "d/l2"} {
			st := lstat(t, filepath.Join(root, name))
			if st.Ino != f.Ino || st.Dev != f.Dev {
				t.Errorf("/%s is inode %d, /f is %d: want one file with two names", name, st.Ino, f.Ino)
			}
			assertContent(t, root, name, "shared content")
		}
		if f.Nlink != 3 {
			t.Errorf("/f has link count %d, want 3", f.Nlink)
		}
		if g := lstat(t, root+"/g"); g.Nlink != 2 {
			t.Errorf("/g has link count %d, want 2", g.Nlink)
		}
	})
}

func checkSymlinks(h *harness) {
	links := map[string]string{
		"d/rel":     "../target",
		"abs":       "/etc/passwd",
		"dangling":  "no/such/file",
		"d/up":      "..",
		"d/self":    ".",
		"spaced":    " odd name\twith tab ",
		"d/dotdots": "../../../../outside",
	}
	entries := []tarEntry{directory("d"), regular("target", "T")}
	for name, target := range links {
		entries = append(entries, symlink(name, target))
	}
	inBothPositions(h, entries, func(t *testing.T, root string) {
		for name, target := range links {
			p := filepath.Join(root, name)
			if st := lstat(t, p); st.Mode&unix.S_IFMT != unix.S_IFLNK {
				t.Errorf("/%s is mode %#o, want a symlink", name, st.Mode)
				continue
			}
			got, err := os.Readlink(p)
			if err != nil || got != target {
				t.Errorf("/%s links to %q (%v), want %q", name, got, err, target)
			}
		}
		assertContent(t, root, "d/rel", "T")
	})
}

// requireXattrs skips unless the filesystem holding the test's temporary
// directories (where drivers under test keep their homes) takes user.*
// attributes.
func requireXattrs(t *testing.T) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "probe")
	must(t, os.WriteFile(p, nil, 0o644))
	if err := unix.Lsetxattr(p, "user.pluggd.probe", []byte("1"), 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			require.SkipOrFail(t, "xattr", "the temporary filesystem does not support user.* extended attributes")
		}
		t.Fatalf("probing user.* xattrs: %v", err)
	}
}

func xattrEntry(e tarEntry, attrs map[string]string) tarEntry {
	return e.with(func(hd *tar.Header) {
		hd.Format = tar.FormatPAX
		hd.PAXRecords = map[string]string{}
		for k, v := range attrs {
			hd.PAXRecords["SCHILY.xattr."+k] = v
		}
	})
}

func assertXattrs(t testing.TB, root, name string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, err := getXattr(filepath.Join(root, name), k)
		if err != nil || got != v {
			t.Errorf("/%s: xattr %s = %q (%v), want %q", name, k, got, err, v)
		}
	}
}

func checkUserXattrs(h *harness) {
	requireXattrs(h.t)
	fileAttrs := map[string]string{"user.pluggd.a": "value-a", "user.pluggd.bin": "\x00\x01\xfe\xff", "user.mime_type": "text/plain"}
	dirAttrs := map[string]string{"user.pluggd.dir": "on a directory"}
	entries := []tarEntry{
		xattrEntry(directory("d"), dirAttrs),
		xattrEntry(regular("d/f", "F"), fileAttrs),
		regular("plain", "no attributes"),
	}
	inBothPositions(h, entries, func(t *testing.T, root string) {
		assertXattrs(t, root, "d/f", fileAttrs)
		assertXattrs(t, root, "d", dirAttrs)
		if got := xattrs(t, filepath.Join(root, "plain")); len(got) != 0 {
			t.Errorf("/plain has attributes %v, want none", got)
		}
	})
}

// checkTrustedXattrs: trusted.* attributes are part of a layer too (only
// trusted.overlay.* are a driver's bookkeeping, never in a layer).
func checkTrustedXattrs(h *harness) {
	require.Root(h.t)
	attrs := map[string]string{"trusted.pluggd.t": "trusted value"}
	entries := []tarEntry{
		xattrEntry(regular("f", "F"), attrs),
		xattrEntry(directory("d"), attrs),
	}
	inBothPositions(h, entries, func(t *testing.T, root string) {
		assertXattrs(t, root, "f", attrs)
		assertXattrs(t, root, "d", attrs)
	})
}

func checkSpecialFiles(h *harness) {
	require.Root(h.t)
	entries := []tarEntry{
		fifo("pipe").with(func(hd *tar.Header) { hd.Mode = 0o640 }),
		directory("dev"),
		charDevice("dev/null", 1, 3),
		base("dev/loop0", tar.TypeBlock, 0o660).with(func(hd *tar.Header) { hd.Devmajor, hd.Devminor = 7, 0 }),
	}
	inBothPositions(h, entries, func(t *testing.T, root string) {
		for _, c := range []struct {
			name         string
			typ          uint32
			perm         uint32
			major, minor uint32
		}{
			{"pipe", unix.S_IFIFO, 0o640, 0, 0},
			{"dev/null", unix.S_IFCHR, 0o666, 1, 3},
			{"dev/loop0", unix.S_IFBLK, 0o660, 7, 0},
		} {
			st := lstat(t, filepath.Join(root, c.name))
			if st.Mode&unix.S_IFMT != c.typ || st.Mode&0o7777 != c.perm {
				t.Errorf("/%s has mode %#o, want %#o", c.name, st.Mode, c.typ|c.perm)
			}
			if c.typ != unix.S_IFIFO && (unix.Major(st.Rdev) != c.major || unix.Minor(st.Rdev) != c.minor) {
				t.Errorf("/%s is device %d:%d, want %d:%d", c.name, unix.Major(st.Rdev), unix.Minor(st.Rdev), c.major, c.minor)
			}
		}
	})
}

// checkPermissions: modes come from the tar exactly, whatever the
// driver's umask, special bits included.
func checkPermissions(h *harness) {
	modes := map[string]int64{
		"setuid":      0o4755,
		"setgid":      0o2755,
		"private":     0o600,
		"none":        0o000,
		"readonly":    0o444,
		"exec":        0o711,
		"groupwrite":  0o664,
		"worldwrite":  0o666,
		"dir/sticky":  0o1777,
		"dir/private": 0o700,
		"dir/sgid":    0o2775,
	}
	if os.Geteuid() != 0 {
		// Only root reads a file without permissions, to compare it.
		delete(modes, "none")
	}
	entries := []tarEntry{directory("dir")}
	for name, mode := range modes {
		var e tarEntry
		if strings.HasPrefix(name, "dir/") {
			e = directory(name)
		} else {
			e = regular(name, name)
		}
		entries = append(entries, e.with(func(hd *tar.Header) { hd.Mode = mode }))
	}
	inBothPositions(h, entries, func(t *testing.T, root string) {
		for name, mode := range modes {
			st := lstat(t, filepath.Join(root, name))
			if int64(st.Mode&0o7777) != mode {
				t.Errorf("/%s has mode %#o, want %#o", name, st.Mode&0o7777, mode)
			}
		}
	})
}

// checkOwnership also checks the order of chown and chmod: chown clears
// setuid, so a driver that chmods first loses it.
func checkOwnership(h *harness) {
	require.Root(h.t)
	owned := func(e tarEntry, uid, gid int) tarEntry {
		return e.with(func(hd *tar.Header) { hd.Uid, hd.Gid = uid, gid })
	}
	entries := []tarEntry{
		owned(regular("f", "F"), 1234, 5678),
		owned(directory("d"), 4321, 8765),
		owned(regular("d/root", "R"), 0, 0),
		owned(symlink("l", "f"), 1111, 2222),
		owned(regular("suid", "S"), 1000, 1000).with(func(hd *tar.Header) { hd.Mode = 0o4755 }),
		owned(regular("big", "B"), 100000, 200000),
	}
	inBothPositions(h, entries, func(t *testing.T, root string) {
		for _, c := range []struct {
			name     string
			uid, gid uint32
		}{{"f", 1234, 5678}, {"d", 4321, 8765}, {"d/root", 0, 0}, {"l", 1111, 2222}, {"suid", 1000, 1000}, {"big", 100000, 200000}} {
			st := lstat(t, filepath.Join(root, c.name))
			if st.Uid != c.uid || st.Gid != c.gid {
				t.Errorf("/%s is owned by %d:%d, want %d:%d", c.name, st.Uid, st.Gid, c.uid, c.gid)
			}
		}
		if st := lstat(t, root+"/suid"); st.Mode&0o7777 != 0o4755 {
			t.Errorf("/suid owned by 1000 has mode %#o, want 04755 (chown after chmod clears setuid)", st.Mode&0o7777)
		}
	})
}

// checkMtimes: the directory's entries come after it in the tar, so a
// driver must set directories' times after filling them.
func checkMtimes(h *harness) {
	times := map[string]time.Time{
		"f":       time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC),
		"d":       time.Date(2002, 3, 4, 5, 6, 7, 0, time.UTC),
		"d/inner": time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC),
		"d/sub":   time.Date(2004, 5, 6, 7, 8, 9, 0, time.UTC),
		"d/sub/x": time.Date(2005, 6, 7, 8, 9, 10, 0, time.UTC),
		"l":       time.Date(2006, 7, 8, 9, 10, 11, 0, time.UTC),
		"old":     time.Date(1971, 1, 1, 0, 0, 1, 0, time.UTC),
		"future":  time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	at := func(e tarEntry) tarEntry {
		return e.with(func(hd *tar.Header) { hd.ModTime = times[cleanName(hd.Name)] })
	}
	entries := []tarEntry{
		at(regular("f", "F")),
		at(directory("d")),
		at(regular("d/inner", "I")),
		at(directory("d/sub")),
		at(regular("d/sub/x", "X")),
		at(symlink("l", "f")),
		at(regular("old", "O")),
		at(regular("future", "F")),
	}
	inBothPositions(h, entries, func(t *testing.T, root string) {
		for name, want := range times {
			st := lstat(t, filepath.Join(root, name))
			if st.Mtim.Sec != want.Unix() {
				t.Errorf("/%s has mtime %v, want %v", name, time.Unix(st.Mtim.Sec, 0).UTC(), want)
			}
		}
	})
}

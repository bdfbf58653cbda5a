package storagetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// lstat returns the raw stat of p, failing the test when it is missing.
func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st
}

func assertContent(t testing.TB, root, rel, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Errorf("/%s: %v (want content %q)", rel, err, want)
		return
	}
	if string(got) != want {
		t.Errorf("/%s has content %q, want %q", rel, got, want)
	}
}

func assertAbsent(t testing.TB, root, rel string) {
	t.Helper()
	_, err := os.Lstat(filepath.Join(root, rel))
	if err == nil {
		t.Errorf("/%s exists, want it absent", rel)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/%s: %v, want it absent", rel, err)
	}
}

// assertDirHolds checks that directory rel holds exactly names.
func assertDirHolds(t testing.TB, root, rel string, names ...string) {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(root, rel))
	if err != nil {
		t.Errorf("/%s: %v", rel, err)
		return
	}
	var got []string
	for _, de := range des {
		got = append(got, de.Name())
	}
	slices.Sort(got)
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("/%s holds %q, want %q", rel, got, want)
	}
}

// node is what the checks compare of one path in a layer's tree.
type node struct {
	Type      string
	Perm      uint32 // permission bits with setuid, setgid and sticky
	UID, GID  uint32
	Size      int64
	SHA256    string // of a regular file's content
	Link      string // a symlink's text
	Rdev      uint64
	Xattrs    map[string]string
	Mtime     int64  // seconds; not compared for directories
	HardGroup string // first path (in walk order) sharing this inode, if any other does
}

// tree maps a path relative to the layer root to its node.
type tree map[string]node

// snapshotTree describes every path below root (not root itself).
func snapshotTree(t testing.TB, root string) tree {
	t.Helper()
	tr := tree{}
	firstOfInode := map[uint64]string{}
	shared := map[uint64]bool{}
	inodes := map[string]uint64{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		n := node{
			Perm: st.Mode & 0o7777,
			UID:  st.Uid,
			GID:  st.Gid,
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			n.Type = "regular"
			n.Size = st.Size
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			n.SHA256 = hex.EncodeToString(sum[:8])
			if _, ok := firstOfInode[st.Ino]; ok {
				shared[st.Ino] = true
			} else {
				firstOfInode[st.Ino] = rel
			}
			inodes[rel] = st.Ino
		case unix.S_IFDIR:
			n.Type = "dir"
		case unix.S_IFLNK:
			n.Type = "symlink"
			if n.Link, err = os.Readlink(p); err != nil {
				return err
			}
			// A symlink's permission bits are always 0777 on Linux and
			// meaningless; only its text and owner count.
			n.Perm = 0
		case unix.S_IFIFO:
			n.Type = "fifo"
		case unix.S_IFCHR:
			n.Type, n.Rdev = "char", st.Rdev
		case unix.S_IFBLK:
			n.Type, n.Rdev = "block", st.Rdev
		case unix.S_IFSOCK:
			n.Type = "socket"
		}
		if n.Type != "dir" {
			n.Mtime = st.Mtim.Sec
		}
		n.Xattrs = xattrs(t, p)
		tr[rel] = n
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	for rel, ino := range inodes {
		if shared[ino] {
			n := tr[rel]
			n.HardGroup = firstOfInode[ino]
			tr[rel] = n
		}
	}
	return tr
}

// xattrs returns the attributes a layer carries: user.* and trusted.*
// except the overlay filesystem's own trusted.overlay.*, which are a
// driver's bookkeeping (and hidden inside overlay mounts anyway).
// security.* is left out: SELinux labels belong to the host.
func xattrs(t testing.TB, p string) map[string]string {
	t.Helper()
	names, err := listXattrs(p)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		t.Fatalf("listxattr %s: %v", p, err)
	}
	var m map[string]string
	for _, name := range names {
		if !strings.HasPrefix(name, "user.") && !strings.HasPrefix(name, "trusted.") ||
			strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		v, err := getXattr(p, name)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", p, name, err)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = v
	}
	return m
}

func listXattrs(p string) ([]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		return nil, err
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range strings.Split(string(buf[:size]), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

func getXattr(p, name string) (string, error) {
	size, err := unix.Lgetxattr(p, name, nil)
	if err != nil {
		return "", err
	}
	buf := make([]byte, size)
	size, err = unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:size]), nil
}

// compareTrees reports every path where got differs from want.
func compareTrees(t testing.TB, what string, want, got tree) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	bad := 0
	for _, p := range paths {
		w, inWant := want[p]
		g, inGot := got[p]
		switch {
		case !inGot:
			t.Errorf("%s: /%s is missing (want %+v)", what, p, w)
		case !inWant:
			t.Errorf("%s: /%s is extra: %+v", what, p, g)
		case !reflect.DeepEqual(w, g):
			t.Errorf("%s: /%s differs:\n  want %+v\n  got  %+v", what, p, w, g)
		default:
			continue
		}
		if bad++; bad >= 20 {
			t.Errorf("%s: stopping after %d differences", what, bad)
			return
		}
	}
}

// String makes a tree readable in failure messages.
func (tr tree) String() string {
	var b strings.Builder
	var paths []string
	for p := range tr {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		fmt.Fprintf(&b, "/%s %+v\n", p, tr[p])
	}
	return b.String()
}

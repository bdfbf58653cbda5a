package archive

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/errdefs"
)

// tree is a directory that every write of Apply stays beneath. Paths are
// resolved by the kernel with openat2(RESOLVE_BENEATH), so a symlink or ".."
// that would leave the tree fails with EXDEV instead of being followed; the
// last component of a path is never followed (it is created with *at calls
// relative to its parent's descriptor). This is what os.Root does in Go; we
// use the syscall because Apply needs mknodat, linkat, fchownat and xattrs,
// which os.Root lacks, and because EXDEV lets us classify an escape attempt
// as the layer's fault rather than the host's.
type tree struct {
	fd   int
	path string
}

func openTree(dir string) (*tree, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &tree{fd: fd, path: dir}, nil
}

func (t *tree) close() { unix.Close(t.fd) }

// errEscape marks a path that would leave the tree.
var errEscape = errors.New("path escapes the layer root")

// cleanName turns a tar entry name into a clean path relative to the tree:
// leading slashes are dropped (absolute names are contained, as tar does),
// and any ".." component is refused rather than resolved, because a layer
// that names one is either broken or hostile. "" means the root itself.
func cleanName(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errdefs.InvalidParameter(fmt.Errorf("entry %q: %w", name, errEscape))
		}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errdefs.InvalidParameter(fmt.Errorf("entry %q: NUL in name", name))
	}
	p := path.Clean("/" + name)
	if p == "/" {
		return "", nil
	}
	return p[1:], nil
}

// classify turns the errno of a path operation into an error class: the
// ones a crafted layer provokes (escape, symlink loop, a file where a
// directory is needed, a hardlink to a missing or directory target) are
// InvalidParameter; the rest stay unclassified host errors.
func classify(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		switch errno {
		case unix.EXDEV:
			return errdefs.InvalidParameter(fmt.Errorf("%s %q: %w", op, name, errEscape))
		case unix.ELOOP, unix.ENOTDIR, unix.EISDIR, unix.ENAMETOOLONG:
			return errdefs.InvalidParameter(fmt.Errorf("%s %q: %w", op, name, err))
		}
	}
	return fmt.Errorf("%s %q: %w", op, name, err)
}

// openBeneath resolves rel (clean, relative, "" for the root) to an O_PATH
// directory descriptor, following symlinks only while they stay beneath.
func (t *tree) openDir(rel string) (int, error) {
	if rel == "" {
		fd, err := unix.Dup(t.fd)
		if err != nil {
			return -1, err
		}
		unix.CloseOnExec(fd)
		return fd, nil
	}
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 16 {
		fd, err := unix.Openat2(t.fd, rel, how)
		if err == unix.EAGAIN || err == unix.EINTR {
			// openat2 may ask to retry when a concurrent rename races
			// with ".." resolution.
			continue
		}
		if err != nil {
			return -1, err
		}
		return fd, nil
	}
	return -1, unix.EAGAIN
}

// mkdirAll makes sure directory rel exists beneath the tree, creating
// missing components with mode 0755, and returns its descriptor. Each
// prefix is resolved from the root again so a component that is a symlink
// is checked like any other path.
func (t *tree) mkdirAll(rel string) (int, error) {
	fd, err := t.openDir(rel)
	if err == nil || err != unix.ENOENT {
		return fd, classify("open", rel, err)
	}
	parent, base := splitRel(rel)
	pfd, err := t.mkdirAll(parent)
	if err != nil {
		return -1, err
	}
	err = unix.Mkdirat(pfd, base, 0o755)
	unix.Close(pfd)
	if err != nil && err != unix.EEXIST {
		return -1, classify("mkdir", rel, err)
	}
	fd, err = t.openDir(rel)
	return fd, classify("open", rel, err)
}

// splitRel splits a clean relative path into its parent ("" for the root)
// and last component.
func splitRel(rel string) (string, string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

// procPath names base inside the directory open as dirfd without following
// base itself when used with l*xattr calls, for operations that have no *at
// form (xattrs).
func procPath(dirfd int, base string) string {
	p := "/proc/self/fd/" + strconv.Itoa(dirfd)
	if base != "" {
		p += "/" + base
	}
	return p
}

// removeAllAt removes name in dirfd and everything below it, never
// following symlinks. A missing name is not an error.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.ENOTEMPTY && err != unix.EEXIST {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err != nil {
		d.Close()
		return err
	}
	for _, n := range names {
		if err := removeAllAt(fd, n); err != nil {
			d.Close()
			return err
		}
	}
	d.Close()
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// readDirNames lists the entries of directory rel beneath the tree.
func (t *tree) readDirNames(rel string) ([]string, error) {
	pfd, err := t.openDir(rel)
	if err != nil {
		return nil, classify("open", rel, err)
	}
	defer unix.Close(pfd)
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	return d.Readdirnames(-1)
}

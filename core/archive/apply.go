package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/errdefs"
)

// ApplyOptions are the optional arguments of Apply.
type ApplyOptions struct {
	// Whiteouts says how whiteout entries are written: deleted (a full
	// tree) or turned into overlayfs whiteouts (an upper dir).
	Whiteouts Whiteouts
	// MetadataPath, when not empty, receives gzip-compressed tar-split
	// metadata of the stream, written atomically and only when Apply
	// succeeds. Reassemble(dir, MetadataPath) then reproduces the stream.
	MetadataPath string
}

// Apply unpacks the layer tar stream r into dir, which must exist, and
// returns the number of bytes of file content written.
//
// No entry can write outside dir: names with ".." are refused, absolute
// names are taken relative to dir, and a write through a symlink or
// hardlink that would leave dir is refused; all three with an
// InvalidParameter error. A stream that is not a valid tar (for example a
// truncated one) is an InvalidParameter error too. Errors reading r and
// cancellation of ctx are returned as they are. On error dir holds part of
// the layer.
func Apply(ctx context.Context, dir string, r io.Reader, opts ApplyOptions) (int64, error) {
	t, err := openTree(dir)
	if err != nil {
		return 0, err
	}
	defer t.close()

	src := &sourceReader{ctx: ctx, r: r}
	a := &applier{ctx: ctx, t: t, opts: opts, src: src, unpacked: map[string]bool{}}
	if opts.MetadataPath == "" {
		n, err := a.run(src)
		return n, a.classifyRead(err)
	}

	rec, err := startRecorder(opts.MetadataPath, src)
	if err != nil {
		return 0, err
	}
	a.recErr = rec.packer.failure
	n, err := a.run(rec.stream)
	if err == nil {
		// The packer must see the stream to its very end (the zero
		// blocks and any padding after them) to reproduce it.
		_, err = io.Copy(io.Discard, readTagger{rec.stream})
	}
	err = a.classifyRead(err)
	return n, rec.finish(err)
}

// sourceReader stops at ctx's cancellation and remembers the error of the
// caller's reader, so that a broken source is not mistaken for a bad tar.
type sourceReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// readError tags an error that came from reading the tar stream, as
// opposed to writing the layer.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

type readTagger struct{ r io.Reader }

func (rt readTagger) Read(p []byte) (int, error) {
	n, err := rt.r.Read(p)
	if err != nil && err != io.EOF {
		err = readError{err}
	}
	return n, err
}

// tailReader remembers the last block of the stream read so far.
type tailReader struct {
	r    io.Reader
	tail [512]byte
	n    int64
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n >= len(t.tail) {
		copy(t.tail[:], p[n-len(t.tail):n])
	} else if n > 0 {
		copy(t.tail[:], t.tail[n:])
		copy(t.tail[len(t.tail)-n:], p[:n])
	}
	t.n += int64(n)
	return n, err
}

func (t *tailReader) endsWithZeroBlock() bool {
	if t.n == 0 {
		// An empty stream is an empty layer, as archive/tar reads it.
		return true
	}
	if t.n < int64(len(t.tail)) {
		return false
	}
	for _, b := range t.tail {
		if b != 0 {
			return false
		}
	}
	return true
}

type dirTimes struct {
	rel string
	ts  []unix.Timespec
}

type applier struct {
	ctx  context.Context
	t    *tree
	opts ApplyOptions
	src  *sourceReader
	// unpacked holds every path this stream wrote and their ancestors,
	// so that an opaque marker in delete mode removes only what the
	// layers below left.
	unpacked map[string]bool
	dirs     []dirTimes
	// recErr reports a failure of the metadata recorder, whose parse
	// errors reach us through its pipe.
	recErr func() error
}

// classifyRead decides whose fault a read error is: the caller's reader
// or ctx (returned as is), the metadata recorder (host error), or the
// stream's content (InvalidParameter).
func (a *applier) classifyRead(err error) error {
	var re readError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	if a.src.err != nil {
		return fmt.Errorf("reading layer: %w", a.src.err)
	}
	if a.recErr != nil {
		if rerr := a.recErr(); rerr != nil {
			return rerr
		}
	}
	return errdefs.InvalidParameter(fmt.Errorf("invalid layer tar: %w", re.err))
}

func (a *applier) run(r io.Reader) (int64, error) {
	tail := &tailReader{r: readTagger{r}}
	tr := tar.NewReader(tail)
	var total int64
	for {
		if err := a.ctx.Err(); err != nil {
			return total, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if !tail.endsWithZeroBlock() {
				// archive/tar takes a stream cut at a header boundary
				// for a complete one; a layer always has the end
				// blocks, so their absence means truncation.
				return total, readError{fmt.Errorf("%w: no end-of-archive blocks", io.ErrUnexpectedEOF)}
			}
			break
		}
		if err != nil {
			if _, ok := err.(readError); !ok {
				err = readError{err}
			}
			return total, err
		}
		n, err := a.entry(hdr, tr)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, a.setDirTimes()
}

func (a *applier) markUnpacked(rel string) {
	for rel != "" && !a.unpacked[rel] {
		a.unpacked[rel] = true
		rel, _ = splitRel(rel)
	}
}

func (a *applier) entry(hdr *tar.Header, tr *tar.Reader) (int64, error) {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return 0, err
	}
	parent, base := splitRel(rel)

	if strings.HasPrefix(base, WhiteoutPrefix) {
		return 0, a.whiteout(rel, parent, base, hdr)
	}

	if rel == "" {
		// "./": the layer's root directory itself.
		if hdr.Typeflag != tar.TypeDir {
			return 0, errdefs.InvalidParameter(fmt.Errorf("entry %q: the root must be a directory", hdr.Name))
		}
		fd, err := unix.Openat(a.t.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		defer unix.Close(fd)
		if err := a.setFdAttrs(fd, rel, hdr); err != nil {
			return 0, err
		}
		a.dirs = append(a.dirs, dirTimes{rel, times(hdr)})
		return 0, nil
	}

	pfd, err := a.t.mkdirAll(parent)
	if err != nil {
		return 0, err
	}
	defer unix.Close(pfd)

	// Replace what is there unless both are directories (a directory
	// entry over an existing directory only updates its attributes).
	var st unix.Stat_t
	opaque := false
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		// ".wh.dir" then "dir/" (Docker sorts a deleted and recreated
		// directory that way): in an upper dir the new directory must
		// hide the old one's content, which the whiteout did until the
		// directory replaced it.
		opaque = a.opts.Whiteouts == WhiteoutsOverlay && hdr.Typeflag == tar.TypeDir && isOverlayWhiteout(&st)
		if !(hdr.Typeflag == tar.TypeDir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
			if err := removeAllAt(pfd, base); err != nil {
				return 0, classify("remove", rel, err)
			}
		}
	} else if err != unix.ENOENT {
		return 0, classify("stat", rel, err)
	}
	a.markUnpacked(rel)

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return 0, classify("mkdir", rel, err)
		}
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, classify("open", rel, err)
		}
		defer unix.Close(fd)
		if err := a.setFdAttrs(fd, rel, hdr); err != nil {
			return 0, err
		}
		if opaque {
			if err := unix.Fsetxattr(fd, overlayOpaqueXattr, []byte("y"), 0); err != nil {
				return 0, classify("set opaque", rel, err)
			}
		}
		// A directory's mtime changes while its content is written;
		// set it when the whole stream is in.
		a.dirs = append(a.dirs, dirTimes{rel, times(hdr)})
		return 0, nil

	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse:
		if hdr.Typeflag == tar.TypeGNUSparse && a.opts.MetadataPath != "" {
			// tar-split would record the expanded payload and could not
			// reproduce the sparse map: refuse rather than promise a
			// byte-exact Diff we cannot give.
			return 0, errdefs.InvalidParameter(fmt.Errorf("entry %q: GNU sparse files are not supported", hdr.Name))
		}
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return 0, classify("create", rel, err)
		}
		f := os.NewFile(uintptr(fd), rel)
		n, err := io.Copy(f, readTagger{tr})
		if err != nil {
			f.Close()
			var re readError
			if errors.As(err, &re) {
				return n, err
			}
			return n, fmt.Errorf("write %q: %w", rel, err)
		}
		if err := a.setFdAttrs(fd, rel, hdr); err != nil {
			f.Close()
			return n, err
		}
		if err := f.Close(); err != nil {
			return n, fmt.Errorf("write %q: %w", rel, err)
		}
		return n, a.setTimes(pfd, base, rel, hdr)

	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return 0, classify("symlink", rel, err)
		}
		return 0, a.setPathAttrs(pfd, base, rel, hdr, false)

	case tar.TypeLink:
		return 0, a.hardlink(pfd, base, rel, hdr)

	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode) & 0o7777
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode, int(dev)); err != nil {
			return 0, classify("mknod", rel, err)
		}
		return 0, a.setPathAttrs(pfd, base, rel, hdr, true)

	case tar.TypeXGlobalHeader:
		return 0, nil
	}
	return 0, errdefs.InvalidParameter(fmt.Errorf("entry %q: unsupported tar type %q", hdr.Name, hdr.Typeflag))
}

func (a *applier) hardlink(pfd int, base, rel string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return err
	}
	if target == "" {
		return errdefs.InvalidParameter(fmt.Errorf("hardlink %q to the layer root", hdr.Name))
	}
	tparent, tbase := splitRel(target)
	tfd, err := a.t.openDir(tparent)
	if err != nil {
		return classify("hardlink target", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	// Flags 0: link the target itself even if it is a symlink, never
	// what it points to.
	err = unix.Linkat(tfd, tbase, pfd, base, 0)
	switch err {
	case nil:
		return nil
	case unix.ENOENT, unix.EPERM:
		return errdefs.InvalidParameter(fmt.Errorf("hardlink %q to %q: target is not a file of this layer: %w", hdr.Name, hdr.Linkname, err))
	}
	return classify("hardlink", rel, err)
}

// whiteout handles an entry whose name starts with ".wh.".
func (a *applier) whiteout(rel, parent, base string, hdr *tar.Header) error {
	if base == WhiteoutOpaqueDir {
		if a.opts.Whiteouts == WhiteoutsOverlay {
			fd, err := a.t.mkdirAll(parent)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			// The magic link of an O_PATH descriptor is followed to the
			// directory itself.
			if err := unix.Setxattr(procPath(fd, ""), overlayOpaqueXattr, []byte("y"), 0); err != nil {
				return classify("set opaque", parent, err)
			}
			return nil
		}
		a.markUnpacked(parent)
		return a.emptyExceptUnpacked(parent)
	}
	if strings.HasPrefix(base, WhiteoutMetaPrefix) {
		// aufs' own metadata (.wh..wh.plnk, .wh..wh.aufs): not content.
		return nil
	}
	name := base[len(WhiteoutPrefix):]
	if name == "" || name == "." {
		return errdefs.InvalidParameter(fmt.Errorf("entry %q: empty whiteout", hdr.Name))
	}
	target := name
	if parent != "" {
		target = parent + "/" + name
	}
	if a.opts.Whiteouts == WhiteoutsOverlay {
		pfd, err := a.t.mkdirAll(parent)
		if err != nil {
			return err
		}
		defer unix.Close(pfd)
		if err := removeAllAt(pfd, name); err != nil {
			return classify("remove", target, err)
		}
		if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
			return classify("whiteout", target, err)
		}
		a.markUnpacked(target)
		return a.chown(pfd, name, target, hdr)
	}
	pfd, err := a.t.openDir(parent)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return classify("open", parent, err)
	}
	defer unix.Close(pfd)
	return classify("remove", target, removeAllAt(pfd, name))
}

// emptyExceptUnpacked removes from directory rel what this stream did not
// write, for an opaque marker in delete mode.
func (a *applier) emptyExceptUnpacked(rel string) error {
	names, err := a.t.readDirNames(rel)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	fd, err := a.t.openDir(rel)
	if err != nil {
		return classify("open", rel, err)
	}
	defer unix.Close(fd)
	for _, n := range names {
		child := n
		if rel != "" {
			child = rel + "/" + n
		}
		if !a.unpacked[child] {
			if err := removeAllAt(fd, n); err != nil {
				return classify("remove", child, err)
			}
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := a.emptyExceptUnpacked(child); err != nil {
				return err
			}
		}
	}
	return nil
}

func times(hdr *tar.Header) []unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return []unix.Timespec{timespec(at), timespec(hdr.ModTime)}
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func xattrs(hdr *tar.Header) map[string]string {
	var m map[string]string
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, paxXattrPrefix)
		if !ok || strings.HasPrefix(name, overlayXattrPrefix) {
			// overlayfs' own xattrs in a layer could redirect lookups
			// in a mount; only our whiteout conversion may set them.
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = v
	}
	return m
}

const paxXattrPrefix = "SCHILY.xattr."

// xattrIgnorable: Docker ignores xattrs a filesystem cannot store.
func xattrIgnorable(err error) bool { return err == unix.ENOTSUP || err == unix.EPERM }

// setFdAttrs sets owner, mode and xattrs of an open file or directory.
// The owner goes first: chown clears setuid and setgid.
func (a *applier) setFdAttrs(fd int, rel string, hdr *tar.Header) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil && !chownIgnorable(err) {
		return fmt.Errorf("chown %q: %w", rel, err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode)&0o7777); err != nil {
		return fmt.Errorf("chmod %q: %w", rel, err)
	}
	for k, v := range xattrs(hdr) {
		if err := unix.Fsetxattr(fd, k, []byte(v), 0); err != nil && !xattrIgnorable(err) {
			return fmt.Errorf("setxattr %q %s: %w", rel, k, err)
		}
	}
	return nil
}

// setPathAttrs does setFdAttrs for entries that cannot be opened (symlinks,
// devices, fifos), by name relative to their parent, never following base.
func (a *applier) setPathAttrs(pfd int, base, rel string, hdr *tar.Header, chmod bool) error {
	if err := a.chown(pfd, base, rel, hdr); err != nil {
		return err
	}
	if chmod {
		// base is a device or fifo we just made, not a symlink, so
		// fchmodat's following of the last component is harmless.
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %q: %w", rel, err)
		}
	}
	for k, v := range xattrs(hdr) {
		if err := unix.Lsetxattr(procPath(pfd, base), k, []byte(v), 0); err != nil && !xattrIgnorable(err) {
			return fmt.Errorf("setxattr %q %s: %w", rel, k, err)
		}
	}
	return a.setTimes(pfd, base, rel, hdr)
}

func (a *applier) chown(pfd int, base, rel string, hdr *tar.Header) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !chownIgnorable(err) {
		return fmt.Errorf("chown %q: %w", rel, err)
	}
	return nil
}

// chownIgnorable: without root, files keep the caller's owner, as tar
// does for an unprivileged user.
func chownIgnorable(err error) bool { return err == unix.EPERM && os.Geteuid() != 0 }

func (a *applier) setTimes(pfd int, base, rel string, hdr *tar.Header) error {
	if err := unix.UtimesNanoAt(pfd, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times %q: %w", rel, err)
	}
	return nil
}

func (a *applier) setDirTimes() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		if d.rel == "" {
			if err := unix.UtimesNanoAt(unix.AT_FDCWD, procPath(a.t.fd, ""), d.ts, 0); err != nil {
				return fmt.Errorf("set times of the root: %w", err)
			}
			continue
		}
		parent, base := splitRel(d.rel)
		pfd, err := a.t.openDir(parent)
		if err != nil {
			// Replaced by a later entry; nothing to date.
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = unix.UtimesNanoAt(pfd, base, d.ts, unix.AT_SYMLINK_NOFOLLOW)
		}
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("set times %q: %w", d.rel, err)
		}
	}
	return nil
}

package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
)

// TarOptions are the optional arguments of Tar.
type TarOptions struct {
	// Whiteouts: with WhiteoutsOverlay, dir is an overlayfs upper dir
	// and its whiteouts (0/0 character devices, trusted.overlay.opaque)
	// become ".wh." entries. With WhiteoutsDelete files are taken as
	// they are.
	Whiteouts Whiteouts
}

// Tar returns a tar stream of everything below dir (dir itself is not an
// entry), in Docker's layer format. The order is deterministic: each
// directory before its content, names sorted bytewise. Files that share an
// inode become one file and hardlinks to it; extended attributes become
// PAX SCHILY.xattr records, except overlayfs' own (trusted.overlay.*) and
// SELinux labels (security.selinux), which belong to the host, not the
// layer. Sockets are left out, as Docker does. The caller closes the
// stream; closing early or cancelling ctx stops it.
func Tar(ctx context.Context, dir string, opts TarOptions) (io.ReadCloser, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return newPipeStream(ctx, func(w io.Writer) error {
		tw := newTarWriter(w, dir, opts.Whiteouts)
		if err := tw.walk(ctx, ""); err != nil {
			return err
		}
		return tw.tw.Close()
	}), nil
}

// TarChanges returns a tar stream of changes, as computed by Changes or
// OverlayChanges, taking added and modified paths from dir (without
// recursing: a changed directory's changed content is listed on its own)
// and writing a ".wh." entry for each deleted path.
func TarChanges(ctx context.Context, dir string, changes []storage.Change) (io.ReadCloser, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	sorted := append([]storage.Change(nil), changes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	return newPipeStream(ctx, func(w io.Writer) error {
		tw := newTarWriter(w, dir, WhiteoutsDelete)
		for _, c := range sorted {
			if err := ctx.Err(); err != nil {
				return err
			}
			rel := strings.TrimPrefix(filepath.Clean("/"+c.Path), "/")
			if rel == "" {
				continue
			}
			if c.Kind == storage.ChangeDelete {
				parent, base := splitRel(rel)
				if err := tw.tw.WriteHeader(whiteoutHeader(parent, base)); err != nil {
					return err
				}
				continue
			}
			if _, err := tw.add(rel); err != nil {
				return err
			}
		}
		return tw.tw.Close()
	}), nil
}

// whiteoutHeader is a deletion marker. Its times are fixed so that the
// same changes give the same bytes.
func whiteoutHeader(parent, base string) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     filepath.Join(parent, WhiteoutPrefix+base),
		Mode:     0o600,
		ModTime:  time.Unix(0, 0),
	}
}

type devIno struct{ dev, ino uint64 }

type tarWriter struct {
	tw        *tar.Writer
	root      string
	whiteouts Whiteouts
	links     map[devIno]string
}

func newTarWriter(w io.Writer, root string, wh Whiteouts) *tarWriter {
	return &tarWriter{tw: tar.NewWriter(w), root: root, whiteouts: wh, links: map[devIno]string{}}
}

func (w *tarWriter) walk(ctx context.Context, rel string) error {
	names, err := readDirSorted(filepath.Join(w.root, rel))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		child := n
		if rel != "" {
			child = rel + "/" + n
		}
		isDir, err := w.add(child)
		if err != nil {
			return err
		}
		if isDir {
			if err := w.walk(ctx, child); err != nil {
				return err
			}
		}
	}
	return nil
}

func readDirSorted(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	sort.Strings(names)
	return names, err
}

// add writes the entry for rel and says whether it is a directory whose
// content should follow.
func (w *tarWriter) add(rel string) (bool, error) {
	full := filepath.Join(w.root, rel)
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return false, &os.PathError{Op: "lstat", Path: full, Err: err}
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
	}
	fmtType := st.Mode & unix.S_IFMT

	if w.whiteouts == WhiteoutsOverlay && fmtType == unix.S_IFCHR && st.Rdev == 0 {
		// overlayfs whiteout. Checked before hardlinks: the kernel
		// shares one whiteout inode among many names.
		parent, base := splitRel(rel)
		wh := whiteoutHeader(parent, base)
		wh.Uid, wh.Gid, wh.ModTime = hdr.Uid, hdr.Gid, hdr.ModTime
		return false, w.tw.WriteHeader(wh)
	}

	if fmtType != unix.S_IFDIR && st.Nlink > 1 {
		key := devIno{uint64(st.Dev), st.Ino}
		if first, ok := w.links[key]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			return false, w.tw.WriteHeader(hdr)
		}
		w.links[key] = rel
	}

	var err error
	if hdr.PAXRecords, err = readXattrs(full); err != nil {
		return false, err
	}

	switch fmtType {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if err := w.tw.WriteHeader(hdr); err != nil {
			return false, err
		}
		if w.whiteouts == WhiteoutsOverlay && isOpaque(full) {
			opq := &tar.Header{
				Typeflag: tar.TypeReg,
				Name:     rel + "/" + WhiteoutOpaqueDir,
				Mode:     hdr.Mode & 0o777,
				Uid:      hdr.Uid,
				Gid:      hdr.Gid,
				ModTime:  hdr.ModTime,
			}
			if err := w.tw.WriteHeader(opq); err != nil {
				return false, err
			}
		}
		return true, nil
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		return false, w.writeFile(full, hdr)
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		if hdr.Linkname, err = os.Readlink(full); err != nil {
			return false, err
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if fmtType == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		// Sockets cannot be archived.
		return false, nil
	}
	return false, w.tw.WriteHeader(hdr)
}

func (w *tarWriter) writeFile(full string, hdr *tar.Header) error {
	f, err := os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.CopyN(w.tw, f, hdr.Size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s shrank while archived (%d of %d bytes)", full, n, hdr.Size)
	}
	return err
}

func isOpaque(full string) bool {
	v, err := lgetxattr(full, overlayOpaqueXattr)
	return err == nil && string(v) == "y"
}

// skipXattr: xattrs that describe this host or mount, not the layer.
func skipXattr(name string) bool {
	return strings.HasPrefix(name, overlayXattrPrefix) || name == "security.selinux"
}

func readXattrs(full string) (map[string]string, error) {
	names, err := llistxattr(full)
	if err != nil {
		if err == unix.ENOTSUP {
			return nil, nil
		}
		return nil, &os.PathError{Op: "llistxattr", Path: full, Err: err}
	}
	var m map[string]string
	for _, n := range names {
		if skipXattr(n) {
			continue
		}
		v, err := lgetxattr(full, n)
		if err == unix.ENODATA {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "lgetxattr " + n, Path: full, Err: err}
		}
		if m == nil {
			m = map[string]string{}
		}
		m[paxXattrPrefix+n] = string(v)
	}
	return m, nil
}

func llistxattr(path string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(path, buf)
		if err == unix.ERANGE {
			sz, err := unix.Llistxattr(path, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, sz+64)
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		sort.Strings(names)
		return names, nil
	}
}

func lgetxattr(path, name string) ([]byte, error) {
	buf := make([]byte, 128)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if err == unix.ERANGE {
			sz, err := unix.Lgetxattr(path, name, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, sz+64)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

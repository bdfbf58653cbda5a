package aufs

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/archive"
)

// aufs keeps whiteouts as plain files: ".wh.X" hides X in the lower
// branches, ".wh..wh..opq" makes its directory opaque. core/archive has no
// mode that writes them as they are (WhiteoutsDelete deletes, which would
// hide nothing below an aufs branch), so ApplyDiff applies in
// WhiteoutsOverlay mode, whose whiteouts are unambiguous markers, and
// toAufsWhiteouts turns them into aufs' files right after.
const (
	whPrefix = archive.WhiteoutPrefix
	whMeta   = archive.WhiteoutMetaPrefix
	whOpaque = archive.WhiteoutOpaqueDir
	// overlayOpaque is the xattr WhiteoutsOverlay sets on an opaque dir.
	overlayOpaque = "trusted.overlay.opaque"
	// whiteoutMode is the mode aufs gives the whiteouts it creates.
	whiteoutMode = 0o444
)

// toAufsWhiteouts rewrites below dir the overlayfs whiteouts Apply made:
// a 0/0 character device X becomes the empty file ".wh.X" with its owner,
// and the opaque xattr becomes a ".wh..wh..opq" file in the directory.
// A real 0/0 device in a layer is taken for a whiteout, as overlay does.
func toAufsWhiteouts(ctx context.Context, dir string) error {
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var stv unix.Stat_t
		if err := unix.Lstat(p, &stv); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		st := &stv
		switch {
		case fi.IsDir():
			buf := make([]byte, 8)
			n, err := unix.Lgetxattr(p, overlayOpaque, buf)
			if err != nil || string(buf[:n]) != "y" {
				return nil
			}
			if err := unix.Lremovexattr(p, overlayOpaque); err != nil {
				return err
			}
			return createWhiteout(filepath.Join(p, whOpaque), st)
		case st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0:
			if err := os.Remove(p); err != nil {
				return err
			}
			return createWhiteout(filepath.Join(filepath.Dir(p), whPrefix+filepath.Base(p)), st)
		}
		return nil
	})
}

func createWhiteout(p string, owner *unix.Stat_t) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, whiteoutMode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Lchown(p, int(owner.Uid), int(owner.Gid)); err != nil && !(os.IsPermission(err) && os.Geteuid() != 0) {
		return err
	}
	// Mode again: the umask applied at creation.
	return os.Chmod(p, whiteoutMode)
}

// isAufsMeta says whether a tar entry is aufs' own bookkeeping
// (".wh..wh.plnk", ".wh..wh.aufs", ".wh..wh.orph" and what is below them),
// which Diff leaves out as Docker 1.7 did. The opaque marker is content
// and stays.
func isAufsMeta(name string) bool {
	for _, c := range strings.Split(strings.Trim(name, "/"), "/") {
		if strings.HasPrefix(c, whMeta) && c != whOpaque {
			return true
		}
	}
	return false
}

// withoutAufsMeta copies the tar stream src without aufs' bookkeeping
// entries. Closing the result closes src.
func withoutAufsMeta(src io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		err := copyWithoutMeta(pw, src)
		src.Close()
		pw.CloseWithError(err)
	}()
	// Closing pr fails the goroutine's next write, which closes src.
	return pr
}

func copyWithoutMeta(w io.Writer, r io.Reader) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if isAufsMeta(hdr.Name) {
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// unixGetOpaque reports whether dir still carries overlayfs' opaque xattr.
func unixGetOpaque(dir string) (bool, error) {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(dir, overlayOpaque, buf)
	return err == nil && string(buf[:n]) == "y", err
}

package overlay

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/sys/atomicwriter"

	"github.com/pluggd/pluggd/core/driver/storage/naivediff"

	"github.com/pluggd/pluggd/core/archive"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// ApplyDiff implements storage.Driver: the stream goes into the layer's
// upper dir with overlayfs whiteouts, and its tar-split metadata is kept
// for a byte-exact Diff.
func (d *Driver) ApplyDiff(ctx context.Context, id, parent string, diff io.Reader) (int64, error) {
	if err := d.checkLayer(id); err != nil {
		return 0, err
	}
	own, err := d.parentOf(id)
	if err != nil {
		return 0, err
	}
	if parent != own {
		// The upper dir only makes sense over its own lowers.
		return 0, errdefs.InvalidParameter(fmt.Errorf("overlay: ApplyDiff to layer %q against %q, but its parent is %q", id, parent, own))
	}
	dir := d.dir(id)
	// The parent first: metadata without it is ignored, so a crash
	// between the two writes costs only byte-exactness.
	os.Remove(filepath.Join(dir, metaFile))
	if err := atomicwriter.WriteFile(filepath.Join(dir, metaParent), []byte(parent), 0o600); err != nil {
		return 0, err
	}
	return archive.Apply(ctx, d.diffDir(id), diff, archive.ApplyOptions{
		Whiteouts:    archive.WhiteoutsOverlay,
		MetadataPath: filepath.Join(dir, metaFile),
	})
}

// metadataFor says whether the layer has tar-split metadata recorded
// against parent.
func (d *Driver) metadataFor(id, parent string) (string, bool) {
	meta := filepath.Join(d.dir(id), metaFile)
	if _, err := os.Stat(meta); err != nil {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(d.dir(id), metaParent))
	if err != nil || string(b) != parent {
		return "", false
	}
	return meta, true
}

// Diff implements storage.Driver. Against the layer's own parent: the
// applied stream when there is one, else the upper dir with its whiteouts
// converted. Against any other parent: the changes between the two
// mounted trees.
func (d *Driver) Diff(ctx context.Context, id, parent string) (io.ReadCloser, error) {
	if err := d.checkLayer(id); err != nil {
		return nil, err
	}
	own, err := d.parentOf(id)
	if err != nil {
		return nil, err
	}
	if parent == own {
		if meta, ok := d.metadataFor(id, parent); ok {
			return archive.Reassemble(ctx, d.diffDir(id), meta)
		}
		return archive.Tar(ctx, d.diffDir(id), archive.TarOptions{Whiteouts: archive.WhiteoutsOverlay})
	}
	if parent != "" {
		if err := d.checkLayer(parent); err != nil {
			return nil, err
		}
	}
	return naivediff.Diff(ctx, d, id, parent)
}

// Changes implements storage.Driver.
func (d *Driver) Changes(ctx context.Context, id, parent string) ([]storage.Change, error) {
	if err := d.checkLayer(id); err != nil {
		return nil, err
	}
	own, err := d.parentOf(id)
	if err != nil {
		return nil, err
	}
	if parent == own {
		lowers, err := d.lowerDirs(id)
		if err != nil {
			return nil, err
		}
		return archive.OverlayChanges(ctx, d.diffDir(id), lowers)
	}
	if parent != "" {
		if err := d.checkLayer(parent); err != nil {
			return nil, err
		}
	}
	return naivediff.Changes(ctx, d, id, parent)
}

// DiffSize implements storage.Driver: against the own parent, the size of
// the upper dir (what the layer adds on disk); otherwise the size of the
// files changed between the trees.
func (d *Driver) DiffSize(ctx context.Context, id, parent string) (int64, error) {
	if err := d.checkLayer(id); err != nil {
		return 0, err
	}
	own, err := d.parentOf(id)
	if err != nil {
		return 0, err
	}
	if parent == own {
		return archive.DirSize(ctx, d.diffDir(id))
	}
	if parent != "" {
		if err := d.checkLayer(parent); err != nil {
			return 0, err
		}
	}
	return naivediff.DiffSize(ctx, d, id, parent)
}

package aufs

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/pluggd/pluggd/core/driver/storage/naivediff"

	"github.com/pluggd/pluggd/core/archive"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// ownParent returns the layer's parent ("" for a base layer).
func (d *Driver) ownParent(id string) (string, []string, error) {
	anc, err := d.ancestors(id)
	if err != nil || len(anc) == 0 {
		return "", nil, err
	}
	return anc[0], anc, nil
}

func (d *Driver) diffDirs(ids []string) []string {
	dirs := make([]string, len(ids))
	for i, id := range ids {
		dirs[i] = d.diffPath(id)
	}
	return dirs
}

// ApplyDiff implements storage.Driver: the stream lands in diff/<id> with
// its whiteouts as aufs files (see whiteouts.go), and its tar-split
// metadata is kept for a byte-exact Diff.
func (d *Driver) ApplyDiff(ctx context.Context, id, parent string, diff io.Reader) (int64, error) {
	if err := d.checkLayer(id); err != nil {
		return 0, err
	}
	own, _, err := d.ownParent(id)
	if err != nil {
		return 0, err
	}
	if parent != own {
		return 0, errdefs.InvalidParameter(fmt.Errorf("aufs: ApplyDiff to layer %q against %q, but its parent is %q", id, parent, own))
	}
	return applyAufs(ctx, d.diffPath(id), d.metaPath(id), diff)
}

// applyAufs unpacks a layer stream into dir with aufs whiteouts.
func applyAufs(ctx context.Context, dir, meta string, diff io.Reader) (int64, error) {
	os.Remove(meta)
	n, err := archive.Apply(ctx, dir, diff, archive.ApplyOptions{Whiteouts: archive.WhiteoutsOverlay, MetadataPath: meta})
	if err != nil {
		return n, err
	}
	return n, toAufsWhiteouts(ctx, dir)
}

// tarAufs is a diff dir as a layer stream: its reassembled original when
// metadata exists, else its files as they are (aufs whiteouts are already
// in the layer format) without aufs' bookkeeping.
func tarAufs(ctx context.Context, dir, meta string) (io.ReadCloser, error) {
	if _, err := os.Stat(meta); err == nil {
		return archive.Reassemble(ctx, dir, meta)
	}
	rc, err := archive.Tar(ctx, dir, archive.TarOptions{Whiteouts: archive.WhiteoutsDelete})
	if err != nil {
		return nil, err
	}
	return withoutAufsMeta(rc), nil
}

// Diff implements storage.Driver: against the own parent, diff/<id>;
// against another ancestor (or "" for a layer with parents), the changes
// between the two mounted trees.
func (d *Driver) Diff(ctx context.Context, id, parent string) (io.ReadCloser, error) {
	if err := d.checkLayer(id); err != nil {
		return nil, err
	}
	own, _, err := d.ownParent(id)
	if err != nil {
		return nil, err
	}
	if parent == own {
		return tarAufs(ctx, d.diffPath(id), d.metaPath(id))
	}
	if parent != "" {
		if err := d.checkLayer(parent); err != nil {
			return nil, err
		}
	}
	return naivediff.Diff(ctx, d, id, parent)
}

// Changes implements storage.Driver: against the own parent, diff/<id>
// compared with the parents' diff dirs (no mount); otherwise the trees.
func (d *Driver) Changes(ctx context.Context, id, parent string) ([]storage.Change, error) {
	if err := d.checkLayer(id); err != nil {
		return nil, err
	}
	own, anc, err := d.ownParent(id)
	if err != nil {
		return nil, err
	}
	if parent == own {
		return aufsChanges(ctx, d.diffPath(id), d.diffDirs(anc))
	}
	if parent != "" {
		if err := d.checkLayer(parent); err != nil {
			return nil, err
		}
	}
	return naivediff.Changes(ctx, d, id, parent)
}

// DiffSize implements storage.Driver: against the own parent, the size of
// diff/<id> (Docker 1.7); otherwise the size of the changed files.
func (d *Driver) DiffSize(ctx context.Context, id, parent string) (int64, error) {
	if err := d.checkLayer(id); err != nil {
		return 0, err
	}
	own, _, err := d.ownParent(id)
	if err != nil {
		return 0, err
	}
	if parent == own {
		return archive.DirSize(ctx, d.diffPath(id))
	}
	if parent != "" {
		if err := d.checkLayer(parent); err != nil {
			return 0, err
		}
	}
	return naivediff.DiffSize(ctx, d, id, parent)
}

package aufs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/atomicwriter"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

const (
	layersDir      = "layers"
	diffDir        = "diff"
	mntDir         = "mnt"
	metaDir        = "tar-split"
	removingSuffix = "-removing"
	// maxDepth is Docker 1.7's image.MaxImageDepth, "the aufs default"
	// number of branches.
	maxDepth = 127
)

func (d *Driver) layerFile(id string) string { return filepath.Join(d.home, layersDir, id) }
func (d *Driver) diffPath(id string) string  { return filepath.Join(d.home, diffDir, id) }
func (d *Driver) mntPath(id string) string   { return filepath.Join(d.home, mntDir, id) }
func (d *Driver) metaPath(id string) string  { return filepath.Join(d.home, metaDir, id+".json.gz") }

// validID refuses ids that would name something other than a layer: the
// daemon chooses ids, but a path must never come from one.
func validID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\x00\n") || strings.HasPrefix(id, ".") || strings.HasSuffix(id, removingSuffix) {
		return errdefs.InvalidParameter(fmt.Errorf("aufs: invalid layer id %q", id))
	}
	return nil
}

// parseLayers reads a layers file: one ancestor per line, nearest first.
func parseLayers(content string) []string {
	var ids []string
	for _, l := range strings.Split(content, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ids = append(ids, l)
		}
	}
	return ids
}

// layersContent is what Create writes for a child of parent whose own
// layers file lists parentAncestors: the parent, then its ancestors.
func layersContent(parent string, parentAncestors []string) string {
	if parent == "" {
		return ""
	}
	return strings.Join(append([]string{parent}, parentAncestors...), "\n") + "\n"
}

// isChildOf says whether a layers file's content makes its layer a
// direct child of id.
func isChildOf(content, id string) bool {
	ids := parseLayers(content)
	return len(ids) > 0 && ids[0] == id
}

// ancestors returns the layer's ancestors, nearest first.
func (d *Driver) ancestors(id string) ([]string, error) {
	b, err := os.ReadFile(d.layerFile(id))
	if err != nil {
		return nil, err
	}
	return parseLayers(string(b)), nil
}

// checkLayer returns ErrLayerNotFound for an unknown id.
func (d *Driver) checkLayer(id string) error {
	if validID(id) != nil {
		return fmt.Errorf("layer %q: %w", id, storage.ErrLayerNotFound)
	}
	if _, err := os.Stat(d.layerFile(id)); err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("layer %q: %w", id, storage.ErrLayerNotFound)
		}
		return err
	}
	return nil
}

// Exists implements storage.Driver: the layers file is the marker.
func (d *Driver) Exists(ctx context.Context, id string) (bool, error) {
	err := d.checkLayer(id)
	if errors.Is(err, storage.ErrLayerNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Create implements storage.Driver. The layers file is written last and
// atomically: until it exists the layer does not, and New removes the
// directories of a layer whose creation a crash interrupted.
func (d *Driver) Create(ctx context.Context, id, parent string, opts storage.CreateOptions) error {
	if err := validID(id); err != nil {
		return err
	}
	for k := range opts.StorageOpt {
		return errdefs.InvalidParameter(fmt.Errorf("aufs: storage option %q is not supported (no per-layer options)", k))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := os.Stat(d.layerFile(id)); err == nil {
		return fmt.Errorf("layer %q: %w", id, storage.ErrLayerExists)
	} else if !os.IsNotExist(err) {
		return err
	}
	var anc []string
	if parent != "" {
		if err := d.checkLayer(parent); err != nil {
			return err
		}
		var err error
		if anc, err = d.ancestors(parent); err != nil {
			return err
		}
		if len(anc)+1 >= maxDepth {
			return fmt.Errorf("aufs: layer %q would have %d ancestors, at most %d branches are mounted: %w", id, len(anc)+1, maxDepth-1, storage.ErrTooDeep)
		}
	}
	for _, p := range []string{d.diffPath(id), d.mntPath(id)} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
	}
	return atomicwriter.WriteFile(d.layerFile(id), []byte(layersContent(parent, anc)), 0o600)
}

// hasChildren scans the layers files for one whose nearest ancestor is id:
// a scan, not an index, so it is true even after a crash.
func (d *Driver) hasChildren(id string) (bool, error) {
	ents, err := os.ReadDir(filepath.Join(d.home, layersDir))
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if validID(e.Name()) != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.home, layersDir, e.Name()))
		if err != nil {
			return false, err
		}
		if isChildOf(string(b), id) {
			return true, nil
		}
	}
	return false, nil
}

// Remove implements storage.Driver. mnt/<id> and diff/<id> are renamed to
// <id>-removing first, as Docker 1.7 did, so that a crash leaves names New
// finishes deleting; the layers file goes last but one, before the
// directories' content.
func (d *Driver) Remove(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLayer(id); err != nil {
		return err
	}
	if n := d.refs[id]; n > 0 {
		return fmt.Errorf("layer %q is mounted (%d references): %w", id, n, storage.ErrLayerInUse)
	}
	children, err := d.hasChildren(id)
	if err != nil {
		return err
	}
	if children {
		return fmt.Errorf("layer %q has child layers: %w", id, storage.ErrLayerInUse)
	}
	// A mount left by a previous process of the driver, not claimed again.
	if err := unmountIfMounted(ctx, d.mntPath(id)); err != nil {
		return err
	}
	var renamed []string
	for _, p := range []string{d.mntPath(id), d.diffPath(id)} {
		if err := os.Rename(p, p+removingSuffix); err != nil && !os.IsNotExist(err) {
			return err
		}
		renamed = append(renamed, p+removingSuffix)
	}
	if err := os.Remove(d.layerFile(id)); err != nil {
		return err
	}
	errs := []error{ignoreNotExist(os.Remove(d.metaPath(id)))}
	for _, p := range renamed {
		errs = append(errs, os.RemoveAll(p))
	}
	return errors.Join(errs...)
}

func ignoreNotExist(err error) error {
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

// finishLeftovers completes what a crash interrupted: removals (renamed
// directories) and creations (directories without a layers file).
func (d *Driver) finishLeftovers(ctx context.Context) error {
	var errs []error
	for _, sub := range []string{mntDir, diffDir} {
		ents, err := os.ReadDir(filepath.Join(d.home, sub))
		if err != nil {
			return err
		}
		for _, e := range ents {
			name := e.Name()
			p := filepath.Join(d.home, sub, name)
			if strings.HasSuffix(name, removingSuffix) {
				if sub == mntDir {
					errs = append(errs, unmountIfMounted(ctx, p))
				}
				errs = append(errs, os.RemoveAll(p))
				continue
			}
			if _, err := os.Stat(d.layerFile(name)); os.IsNotExist(err) && validID(name) == nil {
				if sub == mntDir {
					errs = append(errs, unmountIfMounted(ctx, p))
				}
				errs = append(errs, os.RemoveAll(p))
			}
		}
	}
	return errors.Join(errs...)
}

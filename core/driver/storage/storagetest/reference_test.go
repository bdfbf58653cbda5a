package storagetest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pluggd/pluggd/core/archive"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/storagetest"
	"github.com/pluggd/pluggd/core/errdefs"
)

// TestReferenceDriver runs the suite against fullTree, the simplest
// driver that keeps the contract, so that a check that fails here is a
// bug in the suite, not in a driver.
func TestReferenceDriver(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		return &fullTree{home: t.TempDir(), layers: map[string]*refLayer{}}
	})
}

// fullTree keeps every layer as a full copy of its tree (like Docker's
// vfs), applies and tars with core/archive, and reproduces applied
// streams from tar-split metadata.
type fullTree struct {
	home   string
	mu     sync.Mutex
	layers map[string]*refLayer
}

type refLayer struct {
	parent   string
	refs     int
	children int
}

var _ storage.Driver = (*fullTree)(nil)

func (d *fullTree) root(id string) string     { return filepath.Join(d.home, id, "root") }
func (d *fullTree) metadata(id string) string { return filepath.Join(d.home, id, "tar-split.json.gz") }

func (d *fullTree) lookup(id string) (*refLayer, error) {
	l, ok := d.layers[id]
	if !ok {
		return nil, fmt.Errorf("layer %s: %w", id, storage.ErrLayerNotFound)
	}
	return l, nil
}

func (d *fullTree) Info(context.Context) (storage.Info, error) {
	return storage.Info{Name: "fulltree", Version: "test", Capabilities: storage.Capabilities{ByteExactDiff: true}}, nil
}

func (d *fullTree) Create(ctx context.Context, id, parent string, opts storage.CreateOptions) error {
	if len(opts.StorageOpt) > 0 {
		return errdefs.InvalidParameter(fmt.Errorf("storage options are not supported"))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.layers[id]; ok {
		return fmt.Errorf("layer %s: %w", id, storage.ErrLayerExists)
	}
	var p *refLayer
	if parent != "" {
		var err error
		if p, err = d.lookup(parent); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(d.root(id), 0o755); err != nil {
		return err
	}
	if p != nil {
		if err := copyTree(ctx, d.root(parent), d.root(id)); err != nil {
			os.RemoveAll(filepath.Join(d.home, id))
			return err
		}
		p.children++
	}
	d.layers[id] = &refLayer{parent: parent}
	return nil
}

func copyTree(ctx context.Context, from, to string) error {
	rc, err := archive.Tar(ctx, from, archive.TarOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = archive.Apply(ctx, to, rc, archive.ApplyOptions{})
	return err
}

func (d *fullTree) Remove(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := d.lookup(id)
	if err != nil {
		return err
	}
	if l.refs > 0 || l.children > 0 {
		return fmt.Errorf("layer %s: %w", id, storage.ErrLayerInUse)
	}
	if err := os.RemoveAll(filepath.Join(d.home, id)); err != nil {
		return err
	}
	if l.parent != "" {
		d.layers[l.parent].children--
	}
	delete(d.layers, id)
	return nil
}

func (d *fullTree) Get(_ context.Context, id string, _ storage.GetOptions) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := d.lookup(id)
	if err != nil {
		return "", err
	}
	l.refs++
	return d.root(id), nil
}

func (d *fullTree) Put(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, err := d.lookup(id)
	if err != nil {
		return err
	}
	if l.refs == 0 {
		return errdefs.InvalidParameter(fmt.Errorf("layer %s is not mounted", id))
	}
	l.refs--
	return nil
}

func (d *fullTree) Exists(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.layers[id]
	return ok, nil
}

func (d *fullTree) Status(context.Context) ([]storage.StatusPair, error) {
	return []storage.StatusPair{{Key: "Backing Filesystem", Value: "extfs"}}, nil
}

func (d *fullTree) Cleanup(context.Context) error { return nil }

func (d *fullTree) paths(id, parent string) (string, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.lookup(id); err != nil {
		return "", "", err
	}
	if parent == "" {
		return d.root(id), "", nil
	}
	if _, err := d.lookup(parent); err != nil {
		return "", "", err
	}
	return d.root(id), d.root(parent), nil
}

func (d *fullTree) Diff(ctx context.Context, id, parent string) (io.ReadCloser, error) {
	dir, pdir, err := d.paths(id, parent)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	own := d.layers[id].parent
	d.mu.Unlock()
	// The applied stream is the diff against the layer's own parent only.
	if _, err := os.Stat(d.metadata(id)); err == nil && parent == own {
		return archive.Reassemble(ctx, dir, d.metadata(id))
	}
	if pdir == "" {
		return archive.Tar(ctx, dir, archive.TarOptions{})
	}
	changes, err := archive.Changes(ctx, dir, pdir)
	if err != nil {
		return nil, err
	}
	return archive.TarChanges(ctx, dir, changes)
}

func (d *fullTree) Changes(ctx context.Context, id, parent string) ([]storage.Change, error) {
	dir, pdir, err := d.paths(id, parent)
	if err != nil {
		return nil, err
	}
	return archive.Changes(ctx, dir, pdir)
}

func (d *fullTree) ApplyDiff(ctx context.Context, id, parent string, diff io.Reader) (int64, error) {
	dir, _, err := d.paths(id, parent)
	if err != nil {
		return 0, err
	}
	return archive.Apply(ctx, dir, diff, archive.ApplyOptions{MetadataPath: d.metadata(id)})
}

func (d *fullTree) DiffSize(ctx context.Context, id, parent string) (int64, error) {
	dir, pdir, err := d.paths(id, parent)
	if err != nil {
		return 0, err
	}
	changes, err := archive.Changes(ctx, dir, pdir)
	if err != nil {
		return 0, err
	}
	return archive.ChangesSize(ctx, dir, changes)
}

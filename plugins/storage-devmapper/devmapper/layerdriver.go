package devmapper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pluggd/pluggd/core/archive"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/naivediff"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/plugins/storage-devmapper/internal/dm"
	"golang.org/x/sys/unix"
)

// Version is the driver's own version string, for logs.
const Version = "0.1"

var _ storage.Driver = (*Driver)(nil)

// Driver is the devicemapper storage driver over one device set.
type Driver struct {
	set       *deviceSet
	home      string
	backingFS string
	version   string // the kernel's dm interface version, "4.47.0"
}

// start opens the device set under opts.Home: what New will do once the
// conformance suite passes in the VM. Tests call it directly.
func start(ctx context.Context, opts storage.InitOptions) (*Driver, error) {
	o, err := ParseOptions(opts.Options)
	if err != nil {
		return nil, err
	}
	v, err := probe(dm.ControlPath)
	if err != nil {
		return nil, err
	}
	ctl, err := dm.Open()
	if err != nil {
		return nil, fmt.Errorf("devicemapper: %v: %w", err, storage.ErrNotSupported)
	}
	s, err := openDeviceSet(ctl, opts.Home, o)
	if err != nil {
		ctl.Close()
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(opts.Home, tarSplitDir), 0o700); err != nil {
		return nil, fmt.Errorf("devicemapper: %w", err)
	}
	return &Driver{set: s, home: opts.Home, backingFS: backingFS(opts.Home),
		version: fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])}, nil
}

// tarSplitDir holds <id>.gz, the tar-split metadata of the stream
// ApplyDiff unpacked into layer id (for a byte-exact Diff).
const tarSplitDir = "tar-split"

func (d *Driver) tarSplit(id string) string {
	return filepath.Join(d.home, tarSplitDir, id+".gz")
}

// Info implements storage.Driver.
func (d *Driver) Info(ctx context.Context) (storage.Info, error) {
	return storage.Info{Name: Name, Version: Version, Capabilities: storage.Capabilities{ByteExactDiff: true}}, nil
}

// Create implements storage.Driver: a thin snapshot of parent.
func (d *Driver) Create(ctx context.Context, id, parent string, opts storage.CreateOptions) error {
	if len(opts.StorageOpt) != 0 {
		return errdefs.InvalidParameter(errors.New("devicemapper: per-layer storage options are not supported"))
	}
	if id == "" {
		return errdefs.InvalidParameter(errors.New("devicemapper: empty layer id"))
	}
	return d.set.createLayer(id, parent)
}

// Remove implements storage.Driver.
func (d *Driver) Remove(ctx context.Context, id string) error {
	if err := d.set.removeLayer(id); err != nil {
		return err
	}
	if err := os.Remove(d.tarSplit(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("devicemapper: %w", err)
	}
	return nil
}

// Get implements storage.Driver.
func (d *Driver) Get(ctx context.Context, id string, opts storage.GetOptions) (string, error) {
	return d.set.getLayer(id, opts.MountLabel)
}

// Put implements storage.Driver.
func (d *Driver) Put(ctx context.Context, id string) error { return d.set.putLayer(id) }

// Exists implements storage.Driver.
func (d *Driver) Exists(ctx context.Context, id string) (bool, error) { return d.set.hasLayer(id), nil }

// Cleanup implements storage.Driver: Docker 1.7's Shutdown, unmounting
// every layer and removing the devices and (unless dm.thinpooldev) the
// pool, whose loops go with it.
func (d *Driver) Cleanup(ctx context.Context) error {
	err := d.set.shutdown()
	d.set.ctl.Close()
	return err
}

// parentOf is the parent layer id was created on.
func (d *Driver) parentOf(id string) (string, error) {
	s := d.set
	s.mu.Lock()
	defer s.mu.Unlock()
	dev, ok := s.devices[id]
	if !ok || id == "" {
		return "", fmt.Errorf("devicemapper: layer %s: %w", id, storage.ErrLayerNotFound)
	}
	return dev.Parent, nil
}

// ApplyDiff implements storage.Driver: the layer is a full tree, so
// whiteouts delete; the stream's tar-split metadata is kept for Diff.
func (d *Driver) ApplyDiff(ctx context.Context, id, parent string, diff io.Reader) (int64, error) {
	own, err := d.parentOf(id)
	if err != nil {
		return 0, err
	}
	if parent != own {
		return 0, errdefs.InvalidParameter(fmt.Errorf("devicemapper: ApplyDiff to layer %q against %q, but its parent is %q", id, parent, own))
	}
	root, err := d.Get(ctx, id, storage.GetOptions{})
	if err != nil {
		return 0, err
	}
	defer d.Put(context.WithoutCancel(ctx), id)
	_ = os.Remove(d.tarSplit(id))
	n, err := archive.Apply(ctx, root, diff, archive.ApplyOptions{Whiteouts: archive.WhiteoutsDelete, MetadataPath: d.tarSplit(id)})
	if err == nil {
		// The layer is on disk before ApplyDiff says so: written back
		// later, a thin pool that fills up would lose it with nobody
		// told (syncfs reports writeback errors since Linux 5.8).
		err = syncfs(root)
	}
	if err != nil {
		_ = os.Remove(d.tarSplit(id))
		return n, d.set.explainNoSpace(id, err)
	}
	return n, nil
}

// syncfs flushes the filesystem holding dir and returns its writeback
// errors.
func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("devicemapper: syncfs %s: %w", dir, err)
	}
	return nil
}

// Diff implements storage.Driver: against the own parent of a layer
// filled by ApplyDiff, the applied stream; otherwise the two mounted
// trees compared.
func (d *Driver) Diff(ctx context.Context, id, parent string) (io.ReadCloser, error) {
	own, err := d.parentOf(id)
	if err != nil {
		return nil, err
	}
	if parent == own {
		if _, err := os.Stat(d.tarSplit(id)); err == nil {
			root, err := d.Get(ctx, id, storage.GetOptions{})
			if err != nil {
				return nil, err
			}
			rc, err := archive.Reassemble(ctx, root, d.tarSplit(id))
			if err != nil {
				_ = d.Put(context.WithoutCancel(ctx), id)
				return nil, err
			}
			return &putOnClose{ReadCloser: rc, put: func() error { return d.Put(context.WithoutCancel(ctx), id) }}, nil
		}
	}
	if parent != "" {
		if ok, _ := d.Exists(ctx, parent); !ok {
			return nil, fmt.Errorf("devicemapper: parent %s: %w", parent, storage.ErrLayerNotFound)
		}
	}
	return naivediff.Diff(ctx, d, id, parent)
}

// putOnClose releases the layer's mount when its stream is closed.
type putOnClose struct {
	io.ReadCloser
	put  func() error
	done bool
}

func (p *putOnClose) Close() error {
	err := p.ReadCloser.Close()
	if !p.done {
		p.done = true
		if perr := p.put(); err == nil {
			err = perr
		}
	}
	return err
}

// Changes implements storage.Driver by comparing the mounted trees.
func (d *Driver) Changes(ctx context.Context, id, parent string) ([]storage.Change, error) {
	if err := d.checkPair(id, parent); err != nil {
		return nil, err
	}
	return naivediff.Changes(ctx, d, id, parent)
}

// DiffSize implements storage.Driver by comparing the mounted trees.
func (d *Driver) DiffSize(ctx context.Context, id, parent string) (int64, error) {
	if err := d.checkPair(id, parent); err != nil {
		return 0, err
	}
	return naivediff.DiffSize(ctx, d, id, parent)
}

func (d *Driver) checkPair(id, parent string) error {
	if _, err := d.parentOf(id); err != nil {
		return err
	}
	if parent != "" {
		if _, err := d.parentOf(parent); err != nil {
			return err
		}
	}
	return nil
}

package aufs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/backingfs"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Name is the driver's name as /info's "Driver" shows it.
const Name = "aufs"

// Version is this driver's own version, for logs.
const Version = "0.1"

// Driver is the aufs storage driver. Create it with New.
type Driver struct {
	home      string
	backingFS string
	dirperm1  bool

	// mu serialises mounts, unmounts and the checks of Create and Remove
	// that span several layers.
	mu   sync.Mutex
	refs map[string]int
	// privateMount: New bind-mounted home onto itself (makePrivate);
	// Cleanup unmounts it.
	privateMount bool
}

var _ storage.Driver = (*Driver)(nil)

// New starts the driver in opts.Home. It is a storage.Factory. It refuses
// with storage.ErrNotSupported when the kernel has no aufs, and with
// storage.ErrIncompatibleFS on a btrfs or aufs backing filesystem.
func New(ctx context.Context, opts storage.InitOptions) (storage.Driver, error) {
	for _, o := range opts.Options {
		key, _, _ := strings.Cut(o, "=")
		return nil, errdefs.InvalidParameter(fmt.Errorf("aufs: unknown option %q (the driver has no options)", key))
	}
	if opts.Home == "" {
		return nil, errdefs.InvalidParameter(errors.New("aufs: no home directory"))
	}
	home, err := filepath.Abs(opts.Home)
	if err != nil {
		return nil, err
	}
	if err := checkKernel(ctx); err != nil {
		return nil, err
	}
	fs, err := backingfs.Of(home)
	if err != nil {
		return nil, fmt.Errorf("aufs: %w", err)
	}
	if err := checkBackingFS(fs, home); err != nil {
		return nil, err
	}
	for _, sub := range []string{layersDir, diffDir, mntDir, metaDir} {
		if err := os.MkdirAll(filepath.Join(home, sub), 0o700); err != nil {
			return nil, err
		}
	}
	private, err := makePrivate(home)
	if err != nil {
		return nil, err
	}
	d := &Driver{home: home, backingFS: fs, dirperm1: probeDirperm1(home), refs: map[string]int{}, privateMount: private}
	if err := d.finishLeftovers(ctx); err != nil {
		if private {
			unix.Unmount(home, unix.MNT_DETACH)
		}
		return nil, err
	}
	return d, nil
}

// Info implements storage.Driver.
func (d *Driver) Info(ctx context.Context) (storage.Info, error) {
	return storage.Info{Name: Name, Version: Version, Capabilities: storage.Capabilities{ByteExactDiff: true}}, nil
}

// Status implements storage.Driver with Docker 1.7's aufs rows; "Dirs"
// counts the files in layers/, as Docker did.
func (d *Driver) Status(ctx context.Context) ([]storage.StatusPair, error) {
	ents, err := os.ReadDir(filepath.Join(d.home, layersDir))
	if err != nil {
		return nil, err
	}
	return statusPairs(d.home, d.backingFS, len(ents), d.dirperm1), nil
}

// Get implements storage.Driver: a layer without parents is its diff dir,
// unmounted (Docker 1.7); any other is an aufs mount on mnt/<id>.
func (d *Driver) Get(ctx context.Context, id string, opts storage.GetOptions) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLayer(id); err != nil {
		return "", err
	}
	anc, err := d.ancestors(id)
	if err != nil {
		return "", err
	}
	if len(anc) == 0 {
		d.refs[id]++
		return d.diffPath(id), nil
	}
	if d.refs[id] == 0 {
		if err := unmountIfMounted(ctx, d.mntPath(id)); err != nil {
			return "", err
		}
		ro := make([]string, len(anc))
		for i, a := range anc {
			ro[i] = d.diffPath(a)
		}
		if err := mountAufs(d.diffPath(id), ro, d.mntPath(id), opts.MountLabel, d.dirperm1); err != nil {
			return "", err
		}
	}
	d.refs[id]++
	return d.mntPath(id), nil
}

// Put implements storage.Driver.
func (d *Driver) Put(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refs[id] == 0 {
		return errdefs.InvalidParameter(fmt.Errorf("aufs: Put of layer %q without a Get", id))
	}
	if d.refs[id] == 1 {
		if err := unmountIfMounted(context.WithoutCancel(ctx), d.mntPath(id)); err != nil {
			return err
		}
	}
	d.refs[id]--
	if d.refs[id] == 0 {
		delete(d.refs, id)
	}
	return nil
}

// Cleanup implements storage.Driver: it unmounts every mnt/<id>, including
// mounts a previous process of the driver left.
func (d *Driver) Cleanup(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ents, err := os.ReadDir(filepath.Join(d.home, mntDir))
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		errs = append(errs, unmountIfMounted(ctx, filepath.Join(d.home, mntDir, e.Name())))
	}
	clear(d.refs)
	if d.privateMount {
		if err := unix.Unmount(d.home, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("aufs: unmount %s: %w", d.home, err))
		}
		d.privateMount = false
	}
	return errors.Join(errs...)
}

package overlay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/backingfs"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Name is the driver's name as /info's "Driver" shows it.
const Name = "overlay"

// Version is this driver's own version, for logs.
const Version = "1"

// maxLowers is the deepest chain mounted: Docker's overlay2 limit, which
// keeps "lowerdir=l/<26 chars>:..." within a 4 KiB page with room for the
// upper, work and SELinux options.
const maxLowers = 128

// removingSuffix marks a layer directory being deleted: Remove renames
// first, so a crash leaves a name New recognises and finishes.
const removingSuffix = "-removing"

// Driver is the overlay storage driver. Create it with New.
type Driver struct {
	home      string
	backingFS string
	dType     bool
	// indexOff says the kernel understands "index=off", which we pass so
	// a layer can be mounted over lowers other than those of its first
	// mount (with the index feature on, overlayfs refuses that).
	indexOff bool

	// mu serialises mounts, unmounts and the checks of Create and Remove
	// that span several layers (parent exists, no children).
	mu   sync.Mutex
	refs map[string]int
}

var _ storage.Driver = (*Driver)(nil)

// New starts the driver in opts.Home. It is a storage.Factory.
func New(ctx context.Context, opts storage.InitOptions) (storage.Driver, error) {
	for _, o := range opts.Options {
		key, _, _ := strings.Cut(o, "=")
		return nil, errdefs.InvalidParameter(fmt.Errorf("overlay: unknown option %q (the driver has no options)", key))
	}
	if opts.Home == "" {
		return nil, errdefs.InvalidParameter(errors.New("overlay: no home directory"))
	}
	home, err := filepath.Abs(opts.Home)
	if err != nil {
		return nil, err
	}
	if err := checkKernel(ctx); err != nil {
		return nil, err
	}
	fsName, err := backingfs.Of(home)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	switch fsName {
	case "aufs", "overlayfs", "ecryptfs":
		return nil, fmt.Errorf("overlay: %s cannot hold overlayfs upper dirs (home %s): %w", fsName, home, storage.ErrIncompatibleFS)
	}
	if err := os.MkdirAll(filepath.Join(home, linkDir), 0o700); err != nil {
		return nil, err
	}
	dType, err := supportsDType(home)
	if err != nil {
		return nil, err
	}
	if !dType {
		return nil, fmt.Errorf("overlay: the %s filesystem under %s does not report file types in directory entries (d_type), which overlayfs needs: %w", fsName, home, storage.ErrIncompatibleFS)
	}
	indexOff, err := trialMount(home)
	if err != nil {
		return nil, err
	}
	d := &Driver{home: home, backingFS: fsName, dType: dType, indexOff: indexOff, refs: map[string]int{}}
	if err := d.finishLeftovers(); err != nil {
		return nil, err
	}
	return d, nil
}

// Info implements storage.Driver.
func (d *Driver) Info(ctx context.Context) (storage.Info, error) {
	return storage.Info{
		Name:         Name,
		Version:      Version,
		Capabilities: storage.Capabilities{ByteExactDiff: true},
	}, nil
}

// Status implements storage.Driver: Docker 1.7's overlay reported only
// "Backing Filesystem"; "Supports d_type" is what later overlay2 added.
func (d *Driver) Status(ctx context.Context) ([]storage.StatusPair, error) {
	return []storage.StatusPair{
		{Key: "Backing Filesystem", Value: d.backingFS},
		{Key: "Supports d_type", Value: fmt.Sprint(d.dType)},
	}, nil
}

// Exists implements storage.Driver.
func (d *Driver) Exists(ctx context.Context, id string) (bool, error) {
	if validID(id) != nil {
		return false, nil
	}
	_, err := os.Stat(d.dir(id))
	if err == nil {
		return true, nil
	}
	if os.IsNotExist(err) {
		return false, nil
	}
	return false, err
}

// Cleanup implements storage.Driver: it unmounts every layer mounted below
// the home, including mounts a previous process of the driver left.
func (d *Driver) Cleanup(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	mounts, err := mountsBelow(d.home)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if err := unmount(m); err != nil {
			errs = append(errs, err)
		}
	}
	clear(d.refs)
	return errors.Join(errs...)
}

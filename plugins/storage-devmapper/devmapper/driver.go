package devmapper

import (
	"context"
	"errors"
	"fmt"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/plugins/storage-devmapper/internal/dm"
)

// Name is the driver's name as /info's "Driver" shows it.
const Name = "devicemapper"

// New is the driver's storage.Factory. It parses the options first (a bad
// option is reported even on a host without device-mapper, as Docker's
// NewDeviceSet did), then checks the kernel.
func New(ctx context.Context, opts storage.InitOptions) (storage.Driver, error) {
	if _, err := ParseOptions(opts.Options); err != nil {
		return nil, err
	}
	if opts.Home == "" {
		return nil, errors.New("devicemapper: no home directory")
	}
	// Without a usable /dev/mapper/control (no device-mapper in the
	// kernel, or not root) start refuses with ErrNotSupported and the
	// reason, so storage.driver = "auto" moves on to the next driver.
	d, err := start(ctx, opts)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// probe opens the control node at path and reads the interface version.
// Docker 1.7 treated a failure here as "driver not supported"
// (deviceset.go initDevmapper: "can't even get driver version"), so a
// host without device-mapper falls through to the next driver.
func probe(path string) ([3]uint32, error) {
	c, err := dm.OpenPath(path)
	if err != nil {
		return [3]uint32{}, fmt.Errorf("devicemapper: cannot open %s (is the kernel built with device-mapper, CONFIG_BLK_DEV_DM, and is this root?): %v: %w",
			path, err, storage.ErrNotSupported)
	}
	defer c.Close()
	v, err := c.Version()
	if err != nil {
		return [3]uint32{}, fmt.Errorf("devicemapper: cannot read the device-mapper version through %s: %v: %w",
			path, err, storage.ErrNotSupported)
	}
	return v, nil
}

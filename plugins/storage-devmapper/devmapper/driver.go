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
	version, err := probe(dm.ControlPath)
	if err != nil {
		return nil, err
	}
	// The driver itself works (start; the storage conformance suite
	// passes against it in the test VM), but it has not run under the
	// daemon yet, and dm.blkdiscard is not implemented: refuse rather
	// than pick it by "auto" ahead of overlay. ErrNotSupported lets
	// storage.driver = "auto" move on to the next driver.
	return nil, fmt.Errorf("devicemapper: device-mapper %d.%d.%d is available, but this driver is not enabled yet (it passes the storage conformance suite in a test VM, not yet tried under the daemon): %w",
		version[0], version[1], version[2], storage.ErrNotSupported)
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

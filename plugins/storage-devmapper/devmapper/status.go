package devmapper

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/backingfs"
	"golang.org/x/sys/unix"
)

// Status implements storage.Driver with Docker 1.7's keys, in its order,
// and current values (DOCKER17.md §2).
func (d *Driver) Status(ctx context.Context) ([]storage.StatusPair, error) {
	s := d.set
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.ctl.PoolStatus(s.poolName)
	if err != nil {
		return nil, fmt.Errorf("devicemapper: status of %s: %w", s.poolName, err)
	}
	blockSize, err := s.poolBlockSize()
	if err != nil {
		return nil, err
	}
	dataUsed, dataTotal := st.UsedDataBlocks*blockSize, st.TotalDataBlocks*blockSize
	metaUsed, metaTotal := st.UsedMetadataBlocks*4096, st.TotalMetadataBlocks*4096
	dataAvail, metaAvail := dataTotal-dataUsed, metaTotal-metaUsed
	if s.dataFile != "" {
		// A sparse loop file can only grow as far as its filesystem.
		var sfs unix.Statfs_t
		if err := unix.Statfs(s.loopDir(), &sfs); err == nil {
			free := sfs.Bavail * uint64(sfs.Bsize)
			dataAvail, metaAvail = min(dataAvail, free), min(metaAvail, free)
		}
	}
	pairs := []storage.StatusPair{
		{Key: "Pool Name", Value: s.poolName},
		{Key: "Pool Blocksize", Value: humanSize(float64(blockSize))},
		{Key: "Backing Filesystem", Value: d.backingFS},
		{Key: "Data file", Value: s.dataDev},
		{Key: "Metadata file", Value: s.metaDev},
		{Key: "Data Space Used", Value: humanSize(float64(dataUsed))},
		{Key: "Data Space Total", Value: humanSize(float64(dataTotal))},
		{Key: "Data Space Available", Value: humanSize(float64(dataAvail))},
		{Key: "Metadata Space Used", Value: humanSize(float64(metaUsed))},
		{Key: "Metadata Space Total", Value: humanSize(float64(metaTotal))},
		{Key: "Metadata Space Available", Value: humanSize(float64(metaAvail))},
		// No udev sync: the driver makes its own nodes.
		{Key: "Udev Sync Supported", Value: "false"},
		{Key: "Deferred Removal Enabled", Value: strconv.FormatBool(s.opts.DeferredRemoval)},
	}
	if s.dataFile != "" {
		pairs = append(pairs,
			storage.StatusPair{Key: "Data loop file", Value: s.dataFile},
			storage.StatusPair{Key: "Metadata loop file", Value: s.metaFile})
	}
	// Docker showed libdevmapper's version; with no library, the
	// kernel's device-mapper interface version.
	pairs = append(pairs, storage.StatusPair{Key: "Library Version", Value: d.version})
	return pairs, nil
}

// poolBlockSize reads the data block size (bytes) from the pool's table:
// "<meta> <data> <block size in sectors> <low water mark> ...".
func (s *deviceSet) poolBlockSize() (uint64, error) {
	tb, err := s.ctl.Table(s.poolName)
	if err != nil {
		return 0, fmt.Errorf("devicemapper: table of %s: %w", s.poolName, err)
	}
	if len(tb) == 1 {
		if f := strings.Fields(tb[0].Params); len(f) >= 3 {
			if n, err := strconv.ParseUint(f[2], 10, 64); err == nil {
				return n * 512, nil
			}
		}
	}
	return 0, fmt.Errorf("devicemapper: %s: unexpected thin-pool table %+v", s.poolName, tb)
}

// humanSize is Docker 1.7's units.HumanSize: decimal units, four
// significant digits ("65.54 kB", "107.4 GB").
func humanSize(size float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	i := 0
	for size >= 1000 && i < len(units)-1 {
		size /= 1000
		i++
	}
	return fmt.Sprintf("%.4g %s", size, units[i])
}

// backingFS names the filesystem of the home's parent, with Docker's
// names; "<unknown>" when it cannot be read.
func backingFS(home string) string {
	name, err := backingfs.Of(home)
	if err != nil {
		return "<unknown>"
	}
	return name
}

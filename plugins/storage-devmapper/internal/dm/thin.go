package dm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Thin-pool messages (Documentation/admin-guide/device-mapper/thin-provisioning.rst).

// CreateThin makes a new empty thin device id in pool.
func (c *Control) CreateThin(pool string, id uint32) error {
	return c.Message(pool, fmt.Sprintf("create_thin %d", id))
}

// CreateSnap makes thin device id a snapshot of origin. The kernel wants
// the origin suspended (or inactive) while this runs so the snapshot is
// consistent; the caller does that.
func (c *Control) CreateSnap(pool string, id, origin uint32) error {
	return c.Message(pool, fmt.Sprintf("create_snap %d %d", id, origin))
}

// DeleteThin deletes thin device id from the pool.
func (c *Control) DeleteThin(pool string, id uint32) error {
	return c.Message(pool, fmt.Sprintf("delete %d", id))
}

// SetTransactionID moves the pool's transaction id from old to new; the
// kernel refuses (EINVAL) when old is not the current one, which is what
// makes it usable as a commit marker.
func (c *Control) SetTransactionID(pool string, old, new uint64) error {
	return c.Message(pool, fmt.Sprintf("set_transaction_id %d %d", old, new))
}

// ErrPoolFailed: the pool's status is "Fail" (metadata I/O errors: the
// pool serves nothing until repaired with thin_check/thin_repair).
var ErrPoolFailed = errors.New("thin pool has failed")

// PoolStatus is a thin-pool's status line, parsed.
type PoolStatus struct {
	TransactionID       uint64
	UsedMetadataBlocks  uint64 // of 4096 bytes
	TotalMetadataBlocks uint64
	UsedDataBlocks      uint64 // of the pool's block size
	TotalDataBlocks     uint64
	// Mode is "rw", "ro", "out_of_data_space" or "Fail" (the whole
	// status of a failed pool); "" when the kernel did not say.
	Mode string
	// ErrorIfNoSpace: writes needing a block fail at once when the
	// data device is full, instead of being queued (no_space_timeout).
	ErrorIfNoSpace bool
}

// OutOfDataSpace reports whether the pool has no free data block left.
func (s PoolStatus) OutOfDataSpace() bool {
	return s.Mode == "out_of_data_space" || (s.TotalDataBlocks != 0 && s.UsedDataBlocks >= s.TotalDataBlocks)
}

// ParsePoolStatus reads "<transaction id> <used meta>/<total meta>
// <used data>/<total data> <held root> rw|ro|out_of_data_space
// [no_]discard_passdown error_if_no_space|queue_if_no_space ..." (the
// fields after the first three came with later kernels).
func ParsePoolStatus(params string) (PoolStatus, error) {
	f := strings.Fields(params)
	if len(f) == 1 && f[0] == "Fail" {
		return PoolStatus{Mode: "Fail"}, ErrPoolFailed
	}
	if len(f) < 3 {
		return PoolStatus{}, fmt.Errorf("thin-pool status %q: too few fields", params)
	}
	var s PoolStatus
	var err error
	if s.TransactionID, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return PoolStatus{}, fmt.Errorf("thin-pool status %q: %w", params, err)
	}
	if s.UsedMetadataBlocks, s.TotalMetadataBlocks, err = fraction(f[1]); err != nil {
		return PoolStatus{}, fmt.Errorf("thin-pool status %q: %w", params, err)
	}
	if s.UsedDataBlocks, s.TotalDataBlocks, err = fraction(f[2]); err != nil {
		return PoolStatus{}, fmt.Errorf("thin-pool status %q: %w", params, err)
	}
	if len(f) >= 5 {
		s.Mode = f[4]
	}
	for _, x := range f[5:] {
		if x == "error_if_no_space" {
			s.ErrorIfNoSpace = true
		}
	}
	return s, nil
}

func fraction(s string) (uint64, uint64, error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not used/total", s)
	}
	x, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0, 0, err
	}
	y, err := strconv.ParseUint(b, 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return x, y, nil
}

// PoolStatus returns pool's parsed status.
func (c *Control) PoolStatus(pool string) (PoolStatus, error) {
	ts, err := c.Status(pool)
	if err != nil {
		return PoolStatus{}, err
	}
	if len(ts) != 1 || ts[0].Type != "thin-pool" {
		return PoolStatus{}, fmt.Errorf("device-mapper status %s: not a thin pool (%d targets)", pool, len(ts))
	}
	return ParsePoolStatus(ts[0].Params)
}

package dm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Info is what the kernel says about one mapped device.
type Info struct {
	Exists      bool
	Major       uint32
	Minor       uint32
	OpenCount   int32
	TargetCount uint32
	Suspended   bool
	LiveTable   bool // a table is active
	// DeferredRemove: a deferred removal is pending; the kernel removes
	// the device at its last close unless it is cancelled first.
	DeferredRemove bool
}

// Create makes an empty device name (no table yet) and its
// /dev/mapper/<name> node.
func (c *Control) Create(name string) error {
	r, err := c.call("create", cmdDevCreate, name, 0, 0, nil, 0)
	if err != nil {
		return err
	}
	return mknod(name, r.dev)
}

// Load loads targets as name's inactive table; Resume makes it live.
func (c *Control) Load(name string, targets []Target) error {
	payload, err := encodeTargets(targets)
	if err != nil {
		return &Error{"load", name, err}
	}
	_, err = c.call("load", cmdTableLoad, name, 0, uint32(len(targets)), payload, 0)
	return err
}

// Resume swaps in the loaded table and lets I/O through (DM_DEV_SUSPEND
// without the suspend flag).
func (c *Control) Resume(name string) error {
	_, err := c.call("resume", cmdDevSuspend, name, 0, 0, nil, 0)
	return err
}

// Suspend stops I/O to name, flushing what is queued.
func (c *Control) Suspend(name string) error {
	_, err := c.call("suspend", cmdDevSuspend, name, flagSuspend, 0, nil, 0)
	return err
}

// CreateDevice is Create, Load and Resume in one, removing the device
// again when a later step fails so nothing half-made is left behind.
func (c *Control) CreateDevice(name string, targets []Target) error {
	if err := c.Create(name); err != nil {
		return err
	}
	if err := c.Load(name, targets); err != nil {
		_ = c.Remove(name, false)
		return err
	}
	if err := c.Resume(name); err != nil {
		_ = c.Remove(name, false)
		return err
	}
	return nil
}

// Remove deletes device name and its node. With deferred, a device still
// open is removed by the kernel on its last close (dm 4.27+,
// DM_DEFERRED_REMOVE) instead of failing with EBUSY.
func (c *Control) Remove(name string, deferred bool) error {
	var flags uint32
	if deferred {
		flags = flagDeferred
	}
	_, err := c.call("remove", cmdDevRemove, name, flags, 0, nil, 0)
	if err != nil {
		return err
	}
	// With a deferred removal the node may still be in use; the device
	// goes when closed and a stale node only fails to open.
	if rerr := os.Remove(NodePath(name)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && !deferred {
		return fmt.Errorf("device-mapper remove %s: %w", name, rerr)
	}
	return nil
}

// Info returns the device's state; a missing device is Info{Exists:false}
// and no error.
func (c *Control) Info(name string) (Info, error) {
	r, err := c.call("info", cmdDevStatus, name, 0, 0, nil, 0)
	if errors.Is(err, unix.ENXIO) {
		return Info{}, nil
	}
	if err != nil {
		return Info{}, err
	}
	return Info{
		Exists:      true,
		Major:       unix.Major(r.dev),
		Minor:       unix.Minor(r.dev),
		OpenCount:   r.open,
		TargetCount: r.count,
		Suspended:   r.flags&flagSuspend != 0,
		LiveTable:   r.flags&flagActivePresent != 0,
		// The kernel reports a pending deferred removal with the
		// same flag that asks for one (dm-ioctl.c __dev_status).
		DeferredRemove: r.flags&flagDeferred != 0,
	}, nil
}

// Status returns the status lines of the live table (what `dmsetup
// status` prints), e.g. for a thin-pool "<transaction id> <used meta>/<total
// meta> <used data>/<total data> ...".
func (c *Control) Status(name string) ([]Target, error) {
	return c.tableQuery("status", name, 0)
}

// Table returns the live table itself (what `dmsetup table` prints).
func (c *Control) Table(name string) ([]Target, error) {
	return c.tableQuery("table", name, flagStatusTable)
}

func (c *Control) tableQuery(op, name string, flags uint32) ([]Target, error) {
	r, err := c.call(op, cmdTableStatus, name, flags, 0, nil, 4096)
	if err != nil {
		return nil, err
	}
	ts, err := decodeTargets(r.data(), r.count)
	if err != nil {
		return nil, &Error{op, name, err}
	}
	return ts, nil
}

// Message sends a target message to sector 0 of device name (dmsetup
// message <name> 0 <msg>), how a thin pool is told create_thin,
// create_snap, delete and set_transaction_id.
func (c *Control) Message(name, msg string) error {
	// struct dm_target_msg { __u64 sector; char message[]; }
	payload := make([]byte, 8+len(msg)+1)
	binary.LittleEndian.PutUint64(payload, 0)
	copy(payload[8:], msg)
	_, err := c.call("message "+fmt.Sprintf("%q", msg), cmdTargetMsg, name, 0, 0, payload, 0)
	return err
}

// CancelDeferredRemove takes back a pending deferred removal of name, so
// the device stays when its last opener closes it (the "@cancel_deferred_remove"
// message dm core handles itself, dm 4.27+).
func (c *Control) CancelDeferredRemove(name string) error {
	return c.Message(name, "@cancel_deferred_remove")
}

// MakeNode makes /dev/mapper/<name> for an existing device whose node is
// missing (a deferred Remove takes the node away at once, while the
// device may stay, or come back into use, until its last close).
func (c *Control) MakeNode(name string) error {
	r, err := c.call("info", cmdDevStatus, name, 0, 0, nil, 0)
	if err != nil {
		return err
	}
	return mknod(name, r.dev)
}

// NodePath is the /dev/mapper node of device name.
func NodePath(name string) string { return filepath.Join("/dev/mapper", name) }

// mknod makes /dev/mapper/<name> for a new device: without udev nobody
// else does. An existing node with the right numbers is kept; a stale one
// (left by a crash, another dev_t) is replaced.
func mknod(name string, dev uint64) error {
	p := NodePath(name)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err == nil {
		if st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == dev {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("replace stale %s: %w", p, err)
		}
	}
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(dev)); err != nil {
		return fmt.Errorf("mknod %s: %w", p, err)
	}
	return nil
}

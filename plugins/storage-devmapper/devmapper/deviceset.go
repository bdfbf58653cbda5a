package devmapper

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/plugins/storage-devmapper/internal/dm"
	"golang.org/x/sys/unix"
)

// deviceSet is Docker 1.7's DeviceSet: one thin pool, the base device and
// one thin snapshot per layer, with the metadata files that survive
// restarts (deviceset.go). Its methods are safe for concurrent use; one
// lock serialises every pool change, as Docker's did.
type deviceSet struct {
	mu   sync.Mutex
	ctl  *dm.Control
	home string
	opts Options

	prefix   string // docker-<maj>:<min>-<ino>
	poolName string
	poolDev  string // "<maj>:<min>" of the pool, for thin tables
	// The pool's data and metadata devices (e.g. /dev/loop0), and the
	// loop files behind them ("" with dm.datadev or dm.thinpooldev).
	dataDev, metaDev   string
	dataFile, metaFile string

	meta    metaStore
	ids     *idAllocator
	tid     uint64 // the pool's transaction id, as last committed
	devices map[string]*deviceInfo
	mounts  map[string]int // Get references per mounted layer
}

func (s *deviceSet) metadataDir() string { return filepath.Join(s.home, "metadata") }
func (s *deviceSet) loopDir() string     { return filepath.Join(s.home, "devicemapper") }

// deviceName is the dm name of layer hash ("" is the base device).
func (s *deviceSet) deviceName(hash string) string {
	if hash == "" {
		return s.prefix + "-base"
	}
	return s.prefix + "-" + hash
}

// namePrefix is Docker's "docker-<maj>:<min>-<ino>" from the stat of home,
// so two daemon roots on one host never share dm names.
func namePrefix(home string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(home, &st); err != nil {
		return "", fmt.Errorf("devicemapper: stat %s: %w", home, err)
	}
	return fmt.Sprintf("docker-%d:%d-%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino), nil
}

// openDeviceSet sets up (or finds) the pool under home, rolls back a
// half-done transaction and makes sure the base device exists.
func openDeviceSet(ctl *dm.Control, home string, opts Options) (*deviceSet, error) {
	prefix, err := namePrefix(home)
	if err != nil {
		return nil, err
	}
	s := &deviceSet{
		ctl: ctl, home: home, opts: opts, prefix: prefix,
		poolName: prefix + "-pool",
		devices:  map[string]*deviceInfo{},
		mounts:   map[string]int{},
	}
	s.meta = metaStore{dir: s.metadataDir()}
	for _, d := range []string{s.metadataDir(), filepath.Join(home, "mnt")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("devicemapper: %w", err)
		}
	}
	if opts.ThinPoolDevice != "" {
		s.poolName = opts.ThinPoolDevice
	}
	if err := s.setupPool(); err != nil {
		return nil, err
	}
	if err := s.loadMetadata(); err != nil {
		return nil, err
	}
	if err := s.setupBase(); err != nil {
		return nil, err
	}
	return s, nil
}

// setupPool reuses a live pool of this name (a restarted plugin) or makes
// one on the data and metadata devices.
func (s *deviceSet) setupPool() error {
	info, err := s.ctl.Info(s.poolName)
	if err != nil {
		return fmt.Errorf("devicemapper: pool %s: %w", s.poolName, err)
	}
	if s.opts.ThinPoolDevice != "" && !info.Exists {
		return fmt.Errorf("devicemapper: dm.thinpooldev %s: no such device-mapper device", s.poolName)
	}
	if s.opts.ThinPoolDevice == "" && s.opts.DataDevice == "" {
		s.dataFile = filepath.Join(s.loopDir(), "data")
		s.metaFile = filepath.Join(s.loopDir(), "metadata")
	}
	if !info.Exists {
		if err := s.createPool(); err != nil {
			return err
		}
		if info, err = s.ctl.Info(s.poolName); err != nil {
			return fmt.Errorf("devicemapper: pool %s: %w", s.poolName, err)
		}
	} else if err := s.adoptPool(); err != nil {
		return err
	}
	if !info.LiveTable {
		return fmt.Errorf("devicemapper: pool %s has no live table", s.poolName)
	}
	s.poolDev = fmt.Sprintf("%d:%d", info.Major, info.Minor)
	st, err := s.ctl.PoolStatus(s.poolName)
	if err != nil {
		return fmt.Errorf("devicemapper: pool %s: %w", s.poolName, err)
	}
	s.tid = st.TransactionID
	return nil
}

// createPool attaches the loop files (made sparse when missing) or takes
// dm.datadev/dm.metadatadev, and loads the thin-pool table: metadata dev,
// data dev, block size in sectors, low water mark 32768 blocks, and
// skip_block_zeroing (Docker 1.7's table), plus error_if_no_space.
//
// error_if_no_space departs from Docker 1.7 on purpose: without it a pool
// whose data device is full queues every write that needs a new block
// for no_space_timeout (a dm_thin_pool module parameter, 60 s by
// default; 0 queues forever), so a layer filling the pool hangs its
// writer and then fails anyway. With it the write fails at once with
// ENOSPC (thin-provisioning.rst, "error_if_no_space"), and the pool
// stays in out_of_data_space mode, still serving reads and writes to
// blocks already provisioned, until blocks are freed.
func (s *deviceSet) createPool() error {
	var dataF, metaF *os.File
	if s.dataFile != "" {
		if err := os.MkdirAll(s.loopDir(), 0o700); err != nil {
			return fmt.Errorf("devicemapper: %w", err)
		}
		if err := ensureSparse(s.dataFile, s.opts.LoopDataSize); err != nil {
			return err
		}
		if err := ensureSparse(s.metaFile, s.opts.LoopMetadataSize); err != nil {
			return err
		}
		var err error
		if dataF, err = dm.AttachLoop(s.dataFile); err != nil {
			return fmt.Errorf("devicemapper: data loop: %w", err)
		}
		// Autoclear: the loops go at their last close, that is when
		// the pool stops holding them (or now, if it was not made).
		defer dataF.Close()
		if metaF, err = dm.AttachLoop(s.metaFile); err != nil {
			return fmt.Errorf("devicemapper: metadata loop: %w", err)
		}
		defer metaF.Close()
		s.dataDev, s.metaDev = dataF.Name(), metaF.Name()
	} else {
		s.dataDev, s.metaDev = s.opts.DataDevice, s.opts.MetadataDevice
	}
	size, err := deviceSize(s.dataDev)
	if err != nil {
		return err
	}
	params := fmt.Sprintf("%s %s %d 32768 2 skip_block_zeroing error_if_no_space", s.metaDev, s.dataDev, s.opts.BlockSize)
	if err := s.ctl.CreateDevice(s.poolName, []dm.Target{{Start: 0, Length: uint64(size) / 512, Type: "thin-pool", Params: params}}); err != nil {
		return fmt.Errorf("devicemapper: create pool %s: %w", s.poolName, err)
	}
	return nil
}

// adoptPool reads the devices of a live pool from its table, for Status.
func (s *deviceSet) adoptPool() error {
	tb, err := s.ctl.Table(s.poolName)
	if err != nil {
		return fmt.Errorf("devicemapper: pool %s: %w", s.poolName, err)
	}
	if len(tb) != 1 || tb[0].Type != "thin-pool" {
		return fmt.Errorf("devicemapper: %s is not a thin pool", s.poolName)
	}
	if s.opts.ThinPoolDevice != "" {
		return nil // Docker 1.7 reports empty data/metadata files here
	}
	f := strings.Fields(tb[0].Params)
	if len(f) < 2 {
		return fmt.Errorf("devicemapper: pool %s: table %q", s.poolName, tb[0].Params)
	}
	s.metaDev, s.dataDev = blockDevName(f[0]), blockDevName(f[1])
	return nil
}

// blockDevName turns "<maj>:<min>" into /dev/<name> through sysfs, or
// returns it unchanged.
func blockDevName(majMin string) string {
	link, err := os.Readlink(filepath.Join("/sys/dev/block", majMin))
	if err != nil {
		return majMin
	}
	return "/dev/" + filepath.Base(link)
}

// ensureSparse makes path a sparse file of size bytes unless it exists
// (an existing file keeps its size, as in Docker 1.7).
func ensureSparse(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("devicemapper: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		os.Remove(path)
		return fmt.Errorf("devicemapper: size %s: %w", path, err)
	}
	return nil
}

// deviceSize is the size in bytes of a block device (its end).
func deviceSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("devicemapper: %w", err)
	}
	defer f.Close()
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("devicemapper: size of %s: %w", path, err)
	}
	return n, nil
}

// loadMetadata reads the device files, rebuilds the id allocator and
// rolls back a transaction the pool never committed.
func (s *deviceSet) loadMetadata() error {
	set, err := s.meta.loadDeviceSet()
	if err != nil {
		return err
	}
	ds, err := s.meta.loadDevices()
	if err != nil {
		return err
	}
	for i := range ds {
		s.devices[ds[i].Hash] = &ds[i]
	}
	s.ids = newIDAllocator(set.NextDeviceID, ds)
	tr, err := s.meta.loadTransaction()
	if err != nil {
		return err
	}
	_, statErr := os.Stat(filepath.Join(s.metadataDir(), transactionFile))
	switch {
	case tr.OpenTransactionID > s.tid:
		s.rollback(tr)
	case tr.OpenTransactionID < s.tid && statErr == nil:
		// The pool committed past what our files recorded: they are
		// not this pool's (Docker 1.7 refused the same way).
		return fmt.Errorf("devicemapper: open transaction id %d is less than pool %s's transaction id %d",
			tr.OpenTransactionID, s.poolName, s.tid)
	}
	return s.meta.saveTransaction(transaction{OpenTransactionID: s.tid})
}

// rollback undoes the step of an open transaction: the thin device (if
// it was made) and its metadata file go, its id is free again. For a
// delete this finishes the delete instead, which is as good.
func (s *deviceSet) rollback(tr transaction) {
	_ = s.ctl.DeleteThin(s.poolName, uint32(tr.DeviceID))
	if d, ok := s.devices[tr.DeviceHash]; ok && d.DeviceID == tr.DeviceID {
		_ = s.meta.removeDevice(tr.DeviceHash)
		delete(s.devices, tr.DeviceHash)
	}
	s.ids.release(tr.DeviceID)
}

// openTransaction records the step about to change the pool.
func (s *deviceSet) openTransaction(hash string, id int) (uint64, error) {
	next := s.tid + 1
	if err := s.meta.saveTransaction(transaction{OpenTransactionID: next, DeviceHash: hash, DeviceID: id}); err != nil {
		return 0, fmt.Errorf("devicemapper: open transaction: %w", err)
	}
	return next, nil
}

// commit moves the pool's transaction id to next: from here on the step
// is done even after a crash.
func (s *deviceSet) commit(next uint64) error {
	if err := s.ctl.SetTransactionID(s.poolName, s.tid, next); err != nil {
		return fmt.Errorf("devicemapper: commit transaction %d: %w", next, err)
	}
	s.tid = next
	return nil
}

// allocateID takes a free id and persists the allocator's position.
func (s *deviceSet) allocateID() (int, error) {
	id, err := s.ids.allocate()
	if err != nil {
		return 0, err
	}
	if err := s.meta.saveDeviceSet(deviceSetMetadata{NextDeviceID: s.ids.next}); err != nil {
		s.ids.release(id)
		return 0, err
	}
	return id, nil
}

// addDevice makes thin device for hash in a transaction: make is
// create_thin or create_snap with the allocated id. An id the pool
// already holds (left by a crash outside any transaction) is skipped, as
// Docker did.
func (s *deviceSet) addDevice(hash string, size uint64, make func(id uint32) error) (*deviceInfo, error) {
	for {
		id, err := s.allocateID()
		if err != nil {
			return nil, err
		}
		next, err := s.openTransaction(hash, id)
		if err != nil {
			s.ids.release(id)
			return nil, err
		}
		if err := make(uint32(id)); err != nil {
			if errors.Is(err, unix.EEXIST) {
				continue // keep the id marked used: the pool has it
			}
			s.ids.release(id)
			return nil, fmt.Errorf("devicemapper: thin device %d for %q: %w", id, hash, err)
		}
		d := &deviceInfo{Hash: hash, DeviceID: id, Size: size, TransactionID: next}
		if err := s.meta.saveDevice(*d); err != nil {
			_ = s.ctl.DeleteThin(s.poolName, uint32(id))
			s.ids.release(id)
			return nil, err
		}
		if err := s.commit(next); err != nil {
			_ = s.ctl.DeleteThin(s.poolName, uint32(id))
			_ = s.meta.removeDevice(hash)
			s.ids.release(id)
			return nil, err
		}
		s.devices[hash] = d
		return d, nil
	}
}

// deleteDevice removes d's dm device (if active), its thin device and
// metadata file, in a transaction. With dm.blkdiscard its blocks are
// discarded first. A device still open somewhere (its removal deferred,
// dm.use_deferred_removal) cannot be deleted from the pool: that is
// ErrLayerInUse, and nothing changes.
func (s *deviceSet) deleteDevice(d *deviceInfo) error {
	if s.opts.BlkDiscard {
		s.discard(d)
	}
	if err := s.deactivate(d.Hash); err != nil {
		return err
	}
	if err := s.waitGone(d.Hash); err != nil {
		return err
	}
	next, err := s.openTransaction(d.Hash, d.DeviceID)
	if err != nil {
		return err
	}
	if err := s.ctl.DeleteThin(s.poolName, uint32(d.DeviceID)); err != nil && !errors.Is(err, unix.ENODATA) {
		// Nothing changed: close the transaction, or the next start
		// would "roll back" by deleting a layer that still exists.
		_ = s.meta.saveTransaction(transaction{OpenTransactionID: s.tid})
		return fmt.Errorf("devicemapper: delete thin device %d of %q: %w", d.DeviceID, d.Hash, err)
	}
	if err := s.meta.removeDevice(d.Hash); err != nil {
		return err
	}
	delete(s.devices, d.Hash)
	s.ids.release(d.DeviceID)
	return s.commit(next)
}

// discard is Docker 1.7's issueDiscard (dm.blkdiscard): BLKDISCARD over
// the whole device before it is deleted, so that the pool passes the
// discards down and a loop-backed pool punches holes in its data file;
// deleting the thin device alone frees its blocks only in the pool's
// metadata. Skipped for a device open elsewhere; failures are ignored, as
// Docker did (the delete is what matters).
func (s *deviceSet) discard(d *deviceInfo) {
	name := s.deviceName(d.Hash)
	if info, err := s.ctl.Info(name); err != nil || (info.Exists && info.OpenCount != 0) {
		return
	}
	if err := s.activate(d); err != nil {
		return
	}
	_ = dm.Discard(dm.NodePath(name))
}

// waitGone waits a little for the dm device of hash to disappear after a
// deferred removal (a lazily unmounted filesystem lets go of it a moment
// later); a device still open after that is in use.
func (s *deviceSet) waitGone(hash string) error {
	name := s.deviceName(hash)
	for try := 0; ; try++ {
		info, err := s.ctl.Info(name)
		if err != nil {
			return fmt.Errorf("devicemapper: %w", err)
		}
		if !info.Exists {
			return nil
		}
		if try == 100 {
			return fmt.Errorf("devicemapper: layer %s: device %s is still open %d times (its removal is deferred to its last close): %w",
				hash, name, info.OpenCount, storage.ErrLayerInUse)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setupBase makes the base device with its filesystem, once per pool.
// A base left uninitialised (a crash during mkfs) is made again.
func (s *deviceSet) setupBase() error {
	if d, ok := s.devices[""]; ok {
		if d.Initialized {
			return nil
		}
		if err := s.deleteDevice(d); err != nil {
			return err
		}
	}
	if s.opts.ThinPoolDevice != "" {
		st, err := s.ctl.PoolStatus(s.poolName)
		if err != nil {
			return err
		}
		if st.UsedDataBlocks != 0 || st.TransactionID != 0 {
			return fmt.Errorf("devicemapper: unable to take ownership of thin pool %s: it already has data (%d blocks used, transaction id %d)",
				s.poolName, st.UsedDataBlocks, st.TransactionID)
		}
	}
	d, err := s.addDevice("", uint64(s.opts.BaseSize), func(id uint32) error {
		return s.ctl.CreateThin(s.poolName, id)
	})
	if err != nil {
		return err
	}
	if err := s.activate(d); err != nil {
		return err
	}
	if err := s.mkfs(dm.NodePath(s.deviceName(""))); err != nil {
		_ = s.deactivate("")
		return err
	}
	if err := s.deactivate(""); err != nil {
		return err
	}
	d.Initialized = true
	return s.meta.saveDevice(*d)
}

// mkfs formats node with dm.fs and dm.mkfsarg, Docker 1.7's way.
func (s *deviceSet) mkfs(node string) error {
	switch s.opts.Filesystem {
	case "xfs":
		return run("mkfs.xfs", append(append([]string{"-f"}, s.opts.MkfsArgs...), node)...)
	default:
		args := append([]string{"-q", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0"}, s.opts.MkfsArgs...)
		if err := run("mkfs.ext4", append(args, node)...); err != nil {
			// Old e2fsprogs without lazy_journal_init: Docker retried
			// without it.
			args = append([]string{"-q", "-E", "nodiscard,lazy_itable_init=0"}, s.opts.MkfsArgs...)
			if err2 := run("mkfs.ext4", append(args, node)...); err2 != nil {
				return err
			}
		}
		return run("tune2fs", "-c", "-1", "-i", "0", node)
	}
}

// activate maps d as a thin device of the pool (no-op when it exists).
func (s *deviceSet) activate(d *deviceInfo) error {
	name := s.deviceName(d.Hash)
	info, err := s.ctl.Info(name)
	if err != nil {
		return fmt.Errorf("devicemapper: %w", err)
	}
	if info.Exists {
		// Still there after a deferred removal (something kept it
		// open): take the removal back, as Docker 1.7's
		// activateDeviceIfNeeded did, and give it its node again
		// (the deferred Remove took that away).
		if info.DeferredRemove {
			if err := s.ctl.CancelDeferredRemove(name); err != nil && !errors.Is(err, unix.ENXIO) {
				return fmt.Errorf("devicemapper: cancel deferred removal of %q: %w", d.Hash, err)
			}
			if info, err = s.ctl.Info(name); err != nil {
				return fmt.Errorf("devicemapper: %w", err)
			}
		}
		if info.Exists {
			if err := s.ctl.MakeNode(name); err != nil {
				return fmt.Errorf("devicemapper: activate %q: %w", d.Hash, err)
			}
			return nil
		}
	}
	t := dm.Target{Start: 0, Length: d.Size / 512, Type: "thin", Params: fmt.Sprintf("%s %d", s.poolDev, d.DeviceID)}
	if err := s.ctl.CreateDevice(name, []dm.Target{t}); err != nil {
		return fmt.Errorf("devicemapper: activate %q: %w", d.Hash, err)
	}
	return nil
}

// deactivate removes the dm device of hash if it exists (deferred when
// dm.use_deferred_removal is on, so an opener left somewhere does not
// make it fail).
func (s *deviceSet) deactivate(hash string) error {
	name := s.deviceName(hash)
	info, err := s.ctl.Info(name)
	if err != nil {
		return fmt.Errorf("devicemapper: %w", err)
	}
	if !info.Exists {
		return nil
	}
	// Like Docker's removeDeviceAndWait: a device whose filesystem was
	// just lazily unmounted stays busy for a moment; retry for up to
	// two seconds.
	for try := 0; ; try++ {
		err = s.ctl.Remove(name, s.opts.DeferredRemoval)
		if err == nil || !errors.Is(err, unix.EBUSY) || try == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("devicemapper: deactivate %q: %w", hash, err)
	}
	return nil
}

// shutdown deactivates every device and, unless the pool is the
// operator's (dm.thinpooldev), the pool; the loop devices go with it.
func (s *deviceSet) shutdown() error {
	errs := []error{s.unmountAll()}
	s.mu.Lock()
	defer s.mu.Unlock()
	for hash := range s.devices {
		errs = append(errs, s.deactivate(hash))
	}
	if s.opts.ThinPoolDevice == "" {
		if err := s.ctl.Remove(s.poolName, false); err != nil && !errors.Is(err, unix.ENXIO) {
			errs = append(errs, fmt.Errorf("devicemapper: remove pool %s: %w", s.poolName, err))
		}
	}
	return errors.Join(errs...)
}

// run runs a command, putting its output in the error.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("devicemapper: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

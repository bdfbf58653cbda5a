package devmapper

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/plugins/storage-devmapper/internal/dm"
	"github.com/pluggd/pluggd/test/require"
	"golang.org/x/sys/unix"
)

// needDM opens the control node or skips (requirement "devicemapper").
// These tests run for real in TestInVM's guest.
func needDM(t *testing.T) *dm.Control {
	t.Helper()
	require.Root(t)
	c, err := dm.Open()
	if err != nil {
		require.SkipOrFail(t, "devicemapper", fmt.Sprintf("cannot open %s: %v", dm.ControlPath, err))
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Version(); err != nil {
		require.SkipOrFail(t, "devicemapper", err.Error())
	}
	for _, tool := range []string{"mkfs.ext4", "tune2fs"} {
		if _, err := exec.LookPath(tool); err != nil {
			require.SkipOrFail(t, "devicemapper", tool+" is not installed")
		}
	}
	return c
}

// smallOptions keep the pool and filesystems small: mkfs without lazy
// init writes every inode table, which is slow under emulation.
func smallOptions(t *testing.T) Options {
	t.Helper()
	o, err := ParseOptions([]string{"dm.loopdatasize=512M", "dm.loopmetadatasize=32M", "dm.basesize=64M"})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// openTestSet opens a device set on a fresh home and registers a cleanup
// that removes every dm device named after it (also when the test failed
// half way), so the loops autoclear.
func openTestSet(t *testing.T, c *dm.Control, home string, o Options) *deviceSet {
	t.Helper()
	prefix, err := namePrefix(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(t, c, home, prefix) })
	s, err := openDeviceSet(c, home, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// removeAll unmounts what is mounted under home/mnt and removes the
// devices of prefix: layers (from the metadata files), base, pool.
func removeAll(t *testing.T, c *dm.Control, home, prefix string) {
	if entries, err := os.ReadDir(filepath.Join(home, "mnt")); err == nil {
		for _, e := range entries {
			_ = unix.Unmount(filepath.Join(home, "mnt", e.Name()), unix.MNT_DETACH)
		}
	}
	names := []string{}
	if entries, err := os.ReadDir(filepath.Join(home, "metadata")); err == nil {
		for _, e := range entries {
			if n := e.Name(); n != baseFile && n != deviceSetFile && n != transactionFile && !strings.HasPrefix(n, ".") {
				names = append(names, prefix+"-"+n)
			}
		}
	}
	names = append(names, prefix+"-base", prefix+"-pool")
	for _, n := range names {
		if err := c.Remove(n, false); err != nil && !errors.Is(err, unix.ENXIO) {
			t.Errorf("cleanup: %v", err)
		}
	}
}

func TestKernelDeviceSetPoolAndBase(t *testing.T) {
	c := needDM(t)
	home := t.TempDir()
	o := smallOptions(t)
	s := openTestSet(t, c, home, o)

	var st unix.Stat_t
	if err := unix.Stat(home, &st); err != nil {
		t.Fatal(err)
	}
	wantPrefix := fmt.Sprintf("docker-%d:%d-%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	if s.poolName != wantPrefix+"-pool" || s.deviceName("") != wantPrefix+"-base" || s.deviceName("abc") != wantPrefix+"-abc" {
		t.Errorf("names %q %q, want prefix %q", s.poolName, s.deviceName(""), wantPrefix)
	}
	for _, f := range []string{"devicemapper/data", "devicemapper/metadata"} {
		fi, err := os.Stat(filepath.Join(home, f))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int64{"devicemapper/data": 512 << 20, "devicemapper/metadata": 32 << 20}[f]; fi.Size() != want {
			t.Errorf("%s: size %d, want %d", f, fi.Size(), want)
		}
	}
	if !strings.HasPrefix(s.dataDev, "/dev/loop") || !strings.HasPrefix(s.metaDev, "/dev/loop") {
		t.Errorf("pool devices %q %q, want loops", s.dataDev, s.metaDev)
	}
	tb, err := c.Table(s.poolName)
	if err != nil || len(tb) != 1 || tb[0].Type != "thin-pool" || tb[0].Length != (512<<20)/512 ||
		!strings.Contains(tb[0].Params, " 128 32768 2 skip_block_zeroing error_if_no_space") {
		t.Errorf("pool table %+v, %v", tb, err)
	}

	// The base: committed in transaction 1, formatted, inactive.
	base, err := s.meta.loadDevice("")
	if err != nil {
		t.Fatal(err)
	}
	if !base.Initialized || base.Size != 64<<20 || base.TransactionID != 1 || base.DeviceID != 1 {
		t.Errorf("base metadata %+v", base)
	}
	ps, err := c.PoolStatus(s.poolName)
	if err != nil || ps.TransactionID != 1 || ps.UsedDataBlocks == 0 {
		t.Errorf("pool status %+v, %v; want transaction 1 and the filesystem's blocks", ps, err)
	}
	if tr, err := s.meta.loadTransaction(); err != nil || tr.OpenTransactionID != 1 {
		t.Errorf("transaction-metadata %+v, %v", tr, err)
	}
	if info, err := c.Info(s.deviceName("")); err != nil || info.Exists {
		t.Errorf("base still active: %+v, %v", info, err)
	}

	// A restarted plugin finds the live pool and the base as they were.
	again, err := openDeviceSet(c, home, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.tid != 1 || again.devices[""].DeviceID != 1 || again.dataDev != s.dataDev || again.metaDev != s.metaDev {
		t.Errorf("reopened live pool: tid %d, base %+v, devices %q %q (first: %q %q)",
			again.tid, again.devices[""], again.dataDev, again.metaDev, s.dataDev, s.metaDev)
	}

	// After shutdown the pool is gone with its loops; the next start
	// attaches the files again and keeps the base.
	if err := again.shutdown(); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(s.poolName); err != nil || info.Exists {
		t.Fatalf("pool after shutdown: %+v, %v", info, err)
	}
	third, err := openDeviceSet(c, home, o)
	if err != nil {
		t.Fatal(err)
	}
	if third.tid != 1 || third.devices[""].DeviceID != 1 || !third.devices[""].Initialized {
		t.Errorf("after a restart: tid %d, base %+v", third.tid, third.devices[""])
	}
	if err := third.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// A crash between opening a transaction and committing it (here: a thin
// device made, its metadata written, the pool's id not moved) is rolled
// back at the next start: device and file gone, id free.
func TestKernelDeviceSetRollback(t *testing.T) {
	c := needDM(t)
	home := t.TempDir()
	o := smallOptions(t)
	s := openTestSet(t, c, home, o)

	id, err := s.allocateID()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.openTransaction("half", id); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateThin(s.poolName, uint32(id)); err != nil {
		t.Fatal(err)
	}
	if err := s.meta.saveDevice(deviceInfo{Hash: "half", DeviceID: id, Size: 64 << 20, TransactionID: s.tid + 1}); err != nil {
		t.Fatal(err)
	}
	// "Crash": nothing is committed; start again on the live pool.
	r, err := openDeviceSet(c, home, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.devices["half"]; ok {
		t.Error("the half-made device's metadata survived the rollback")
	}
	if _, err := os.Stat(filepath.Join(home, "metadata", "half")); !os.IsNotExist(err) {
		t.Errorf("metadata/half: %v, want gone", err)
	}
	if r.ids.used[id] {
		t.Errorf("id %d still marked used", id)
	}
	if tr, err := r.meta.loadTransaction(); err != nil || tr.OpenTransactionID != r.tid {
		t.Errorf("transaction %+v, %v; want closed at %d", tr, err, r.tid)
	}
	// The pool no longer has thin device id: making it again works.
	if err := c.CreateThin(r.poolName, uint32(id)); err != nil {
		t.Errorf("create_thin %d after rollback: %v (the rollback did not delete it)", id, err)
	}
	_ = c.DeleteThin(r.poolName, uint32(id))
	if err := r.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// Layers as snapshots: contents inherited, Get/Put counted, Remove
// refused while mounted or with children, everything kept across a
// restart of the pool.
func TestKernelDeviceSetLayers(t *testing.T) {
	c := needDM(t)
	home := t.TempDir()
	o := smallOptions(t)
	s := openTestSet(t, c, home, o)

	if err := s.createLayer("l1", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.createLayer("l1", ""); !errors.Is(err, storage.ErrLayerExists) {
		t.Errorf("second create: %v, want ErrLayerExists", err)
	}
	if err := s.createLayer("x", "missing"); !errors.Is(err, storage.ErrLayerNotFound) {
		t.Errorf("create on a missing parent: %v, want ErrLayerNotFound", err)
	}
	if !s.hasLayer("l1") || s.hasLayer("x") || s.hasLayer("") {
		t.Error("hasLayer wrong")
	}
	root, err := s.getLayer("l1", "")
	if err != nil {
		t.Fatal(err)
	}
	if root != filepath.Join(home, "mnt", "l1", "rootfs") {
		t.Errorf("rootfs %q", root)
	}
	if b, err := os.ReadFile(filepath.Join(home, "mnt", "l1", "id")); err != nil || string(b) != "l1" {
		t.Errorf("mnt/l1/id = %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(root, "one"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.putLayer("l1"); err != nil {
		t.Fatal(err)
	}
	if err := s.putLayer("l1"); !errdefs.IsInvalidParameter(err) {
		t.Errorf("put without get: %v, want InvalidParameter", err)
	}
	if info, err := c.Info(s.deviceName("l1")); err != nil || info.Exists {
		t.Errorf("l1 active after its last put: %+v, %v", info, err)
	}

	if err := s.createLayer("l2", "l1"); err != nil {
		t.Fatal(err)
	}
	r2, err := s.getLayer("l2", "")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(r2, "one")); err != nil || string(b) != "1" {
		t.Errorf("l2 does not see l1's file: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(r2, "two"), []byte("2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.getLayer("l2", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.putLayer("l2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r2, "two")); err != nil {
		t.Errorf("one put of two unmounted l2: %v", err)
	}
	if err := s.removeLayer("l2"); !errors.Is(err, storage.ErrLayerInUse) {
		t.Errorf("remove of a mounted layer: %v, want ErrLayerInUse", err)
	}
	if err := s.removeLayer("l1"); !errors.Is(err, storage.ErrLayerInUse) {
		t.Errorf("remove of a parent: %v, want ErrLayerInUse", err)
	}
	// A sibling of l2 on l1 must not see l2's write.
	if err := s.createLayer("l3", "l1"); err != nil {
		t.Fatal(err)
	}
	r3, err := s.getLayer("l3", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r3, "two")); !os.IsNotExist(err) {
		t.Errorf("l3 sees l2's file: %v", err)
	}
	if err := s.putLayer("l3"); err != nil {
		t.Fatal(err)
	}
	if err := s.removeLayer("l3"); err != nil {
		t.Fatal(err)
	}

	// Shutdown unmounts l2; a restart finds l1 and l2 with their data.
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
	r, err := openDeviceSet(c, home, o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.hasLayer("l1") || !r.hasLayer("l2") || r.hasLayer("l3") || r.devices["l2"].Parent != "l1" {
		t.Fatalf("after restart: %v", r.devices)
	}
	r2, err = r.getLayer("l2", "")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(r2, "two")); err != nil || string(b) != "2" {
		t.Errorf("l2 after restart: %q, %v", b, err)
	}
	if err := r.putLayer("l2"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"l2", "l1"} {
		if err := r.removeLayer(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.removeLayer("l1"); !errors.Is(err, storage.ErrLayerNotFound) {
		t.Errorf("second remove: %v, want ErrLayerNotFound", err)
	}
	ps, err := c.PoolStatus(r.poolName)
	if err != nil || ps.TransactionID != r.tid {
		t.Errorf("pool transaction %+v, %v; want %d", ps, err, r.tid)
	}
	if err := r.shutdown(); err != nil {
		t.Fatal(err)
	}
}

// mountCount counts the mounts on path in our mount table.
func mountCount(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == path {
			n++
		}
	}
	return n
}

// TestKernelDeviceSetAdoptsMountAfterCrash: a plugin killed with layers
// mounted leaves the mounts; the next process, given the daemon's
// replayed Get, adopts the mount instead of stacking another, and its
// Put releases mount and device.
func TestKernelDeviceSetAdoptsMountAfterCrash(t *testing.T) {
	c := needDM(t)
	home := t.TempDir()
	o := smallOptions(t)
	crashed := openTestSet(t, c, home, o)
	if err := crashed.createLayer("l1", ""); err != nil {
		t.Fatal(err)
	}
	root, err := crashed.getLayer("l1", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// l2 is mounted too, but nobody gets it again.
	if err := crashed.createLayer("l2", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := crashed.getLayer("l2", ""); err != nil {
		t.Fatal(err)
	}
	// The process dies here: no put, no shutdown.
	s, err := openDeviceSet(c, home, o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.getLayer("l1", "")
	if err != nil || got != root {
		t.Fatalf("get after the crash: %q, %v; want %q", got, err, root)
	}
	mp := s.mountPoint("l1")
	if n := mountCount(t, mp); n != 1 {
		t.Errorf("%s is mounted %d times after the replayed get, want 1 (adopted)", mp, n)
	}
	if b, err := os.ReadFile(filepath.Join(got, "kept")); err != nil || string(b) != "x" {
		t.Errorf("the adopted mount lost the file: %q, %v", b, err)
	}
	if err := s.putLayer("l1"); err != nil {
		t.Fatal(err)
	}
	if n := mountCount(t, mp); n != 0 {
		t.Errorf("%s is still mounted %d times after the last put", mp, n)
	}
	if info, err := c.Info(s.deviceName("l1")); err != nil || info.Exists {
		t.Errorf("l1 still active after the last put: %+v, %v", info, err)
	}
	if err := s.removeLayer("l1"); err != nil {
		t.Errorf("remove after the put: %v", err)
	}
	// The plugin's Cleanup releases what the dead process left.
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
	if n := mountCount(t, s.mountPoint("l2")); n != 0 {
		t.Errorf("l2, left mounted by the dead process, is still mounted %d times after shutdown", n)
	}
	if info, err := c.Info(s.deviceName("l2")); err != nil || info.Exists {
		t.Errorf("l2 still active after shutdown: %+v, %v", info, err)
	}
}

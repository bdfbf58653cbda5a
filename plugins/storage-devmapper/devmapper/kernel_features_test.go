package devmapper

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/plugins/storage-devmapper/internal/dm"
	"github.com/pluggd/pluggd/test/require"
	"golang.org/x/sys/unix"
)

// The options of issue 5 beyond the defaults, on real pools in the VM:
// a pool running out of space, dm.fs=xfs, dm.thinpooldev,
// dm.datadev/dm.metadatadev, dm.use_deferred_removal and dm.blkdiscard.

// startTestDriver starts the driver on a fresh home with opts and
// registers cleanups that shut it down and then remove whatever dm
// devices of that home are left (also when the test failed half way).
func startTestDriver(t *testing.T, c *dm.Control, opts ...string) (*Driver, string) {
	t.Helper()
	home := filepath.Join(t.TempDir(), Name)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	d := restartTestDriver(t, c, home, opts...)
	return d, home
}

// restartTestDriver starts the driver on an existing home.
func restartTestDriver(t *testing.T, c *dm.Control, home string, opts ...string) *Driver {
	t.Helper()
	prefix, err := namePrefix(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(t, c, home, prefix) })
	d, err := start(t.Context(), storage.InitOptions{Home: home, Options: opts})
	if err != nil {
		t.Fatalf("start with %q: %v", opts, err)
	}
	t.Cleanup(func() { _ = d.Cleanup(context.Background()) })
	return d
}

// tarOf is a layer tar of regular files.
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bigTar streams a layer tar holding one file of size bytes (not zeros,
// so nothing below can skip them). Closing the returned reader stops it.
func bigTar(name string, size int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
		chunk := pattern(1 << 20)
		for left := size; err == nil && left > 0; left -= int64(len(chunk)) {
			_, err = tw.Write(chunk[:min(int64(len(chunk)), left)])
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// readLayer mounts id and returns the content of file, then puts it back.
func readLayer(t *testing.T, d *Driver, id, file string) string {
	t.Helper()
	root, err := d.Get(t.Context(), id, storage.GetOptions{})
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	defer func() {
		if err := d.Put(context.Background(), id); err != nil {
			t.Errorf("Put %s: %v", id, err)
		}
	}()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatalf("layer %s: %v", id, err)
	}
	return string(b)
}

// writeSynced writes size bytes to path in 1 MiB chunks, fsyncing every
// 8 MiB and at the end: the write path of a container that means it.
func writeSynced(path string, size int64) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	chunk := pattern(1 << 20)
	var n int64
	for n < size {
		w, err := f.Write(chunk)
		n += int64(w)
		if err != nil {
			return n, err
		}
		if n%(8<<20) == 0 {
			if err := f.Sync(); err != nil {
				return n, err
			}
		}
	}
	return n, f.Sync()
}

// failsOnceFull runs f, a write that fills the pool, and returns its
// error and how long after the pool became full (as its status says) it
// came. A pool that queues writes (no error_if_no_space) holds them for
// the kernel's no_space_timeout, 60 s by default, so the caller's bound
// tells the two apart however slow the machine is at filling the pool;
// limit only keeps a hang from stalling the test for good.
func failsOnceFull(t *testing.T, d *Driver, limit time.Duration, what string, f func() error) (error, time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	var fullAt time.Time
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit)
	for {
		select {
		case err := <-done:
			if fullAt.IsZero() {
				fullAt = time.Now() // it failed before the poll saw the pool full
			}
			return err, time.Since(fullAt)
		case <-tick.C:
			if fullAt.IsZero() {
				if st, err := d.set.ctl.PoolStatus(d.set.poolName); err == nil && st.OutOfDataSpace() {
					fullAt = time.Now()
				}
			}
		case <-deadline:
			t.Fatalf("%s still blocked after %v (pool full since %v): writes to the full pool are queued instead of failing",
				what, limit, fullAt)
			return nil, 0
		}
	}
}

// queueBound: a write failing later than this after the pool filled was
// queued, not failed (no_space_timeout is 60 s).
const queueBound = 30 * time.Second

func poolStatus(t *testing.T, d *Driver) dm.PoolStatus {
	t.Helper()
	st, err := d.set.ctl.PoolStatus(d.set.poolName)
	if err != nil {
		t.Fatalf("pool status: %v", err)
	}
	return st
}

func statusMap(t *testing.T, d *Driver) map[string]string {
	t.Helper()
	pairs, err := d.Status(t.Context())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	m := map[string]string{}
	for _, p := range pairs {
		m[p.Key] = p.Value
	}
	return m
}

// TestKernelPoolOutOfSpace fills a 64 MiB pool under 256 MiB thin
// layers, once through ApplyDiff (the daemon's import path) and once by
// writing in a mounted layer (a container's). Each write fails within
// seconds with an error that carries ENOSPC and names the pool (the pool
// has error_if_no_space; without it the writes would be queued for the
// kernel's no_space_timeout, 60 s, and the deadline below fails the
// test). A layer written before keeps its data, new layers can be made
// while the pool is full, and once the filling layer is removed the pool
// takes writes again.
func TestKernelPoolOutOfSpace(t *testing.T) {
	c := needDM(t)
	d, _ := startTestDriver(t, c, "dm.loopdatasize=64M", "dm.loopmetadatasize=16M", "dm.basesize=256M")
	ctx := t.Context()
	tb, err := c.Table(d.set.poolName)
	if err != nil || len(tb) != 1 || !strings.HasSuffix(strings.TrimSpace(tb[0].Params), " skip_block_zeroing error_if_no_space") {
		t.Fatalf("pool table %+v, %v: want error_if_no_space", tb, err)
	}
	if st := poolStatus(t, d); !st.ErrorIfNoSpace || st.Mode != "rw" {
		t.Fatalf("fresh pool status %+v", st)
	}

	keep := string(pattern(1<<20)) + "keep"
	if err := d.Create(ctx, "keep", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyDiff(ctx, "keep", "", bytes.NewReader(tarOf(t, map[string]string{"keep": keep}))); err != nil {
		t.Fatal(err)
	}

	// keep stays mounted through both fills: a mounted layer reads while
	// the pool is full. (Mounting one may not work then: ext4 writes its
	// superblock at mount, and a block shared with the base needs a new
	// one.)
	keepRoot, err := d.Get(ctx, "keep", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkKeep := func(when string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(keepRoot, "keep")); err != nil || string(b) != keep {
			t.Errorf("layer keep %s: %d bytes, %v; want its %d bytes", when, len(b), err, len(keep))
		}
	}

	// 1. ApplyDiff of a 128 MiB file into a 64 MiB pool.
	if err := d.Create(ctx, "hog", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stream := bigTar("big", 128<<20)
	defer stream.Close()
	err, took := failsOnceFull(t, d, 3*time.Minute, "ApplyDiff into a full pool", func() error {
		_, err := d.ApplyDiff(ctx, "hog", "", stream)
		return err
	})
	stream.Close()
	t.Logf("ApplyDiff failed %v after the pool filled: %v", took.Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("ApplyDiff of 128 MiB into a 64 MiB pool succeeded")
	}
	if took > queueBound {
		t.Errorf("ApplyDiff failed %v after the pool filled, not at once: the write was queued (no error_if_no_space?)", took)
	}
	if !errors.Is(err, unix.ENOSPC) || !errdefs.IsSystem(err) ||
		!strings.Contains(err.Error(), "thin pool "+d.set.poolName+" is out of data space") {
		t.Errorf("ApplyDiff error %q (class %v): want ENOSPC, System, naming the pool", err, errdefs.ClassOf(err))
	}
	st := poolStatus(t, d)
	if !st.OutOfDataSpace() || st.Mode != "out_of_data_space" {
		t.Errorf("pool status after the failed write: %+v", st)
	}
	t.Logf("pool: %+v", st)
	if _, err := os.Stat(d.tarSplit("hog")); !os.IsNotExist(err) {
		t.Errorf("tar-split of the failed ApplyDiff left behind: %v", err)
	}

	// The other layer is intact, Status still answers, and a layer can be
	// made (metadata only) while the data device is full; mounting one
	// either works or says the pool is full.
	checkKeep("while the pool is full")
	if s := statusMap(t, d); s["Data Space Available"] != "0 B" {
		t.Errorf("Status of the full pool: Data Space Available %q, want 0 B", s["Data Space Available"])
	}
	if err := d.Create(ctx, "child", "keep", storage.CreateOptions{}); err != nil {
		t.Errorf("Create while the pool is full: %v", err)
	}
	if _, err := d.Get(ctx, "child", storage.GetOptions{}); err == nil {
		if err := d.Put(ctx, "child"); err != nil {
			t.Error(err)
		}
	} else if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "out of data space") {
		t.Errorf("Get while the pool is full: %v, want it to say the pool is out of data space", err)
	} else {
		t.Logf("Get while the pool is full: %v", err)
	}

	// Removing the filling layer gives the pool its space back.
	if err := d.Remove(ctx, "hog"); err != nil {
		t.Fatalf("Remove hog: %v", err)
	}
	if st := poolStatus(t, d); st.Mode != "rw" || st.OutOfDataSpace() {
		t.Errorf("pool after removing the filling layer: %+v, want rw", st)
	}

	// 2. A container-style write in a mounted layer, fsynced.
	root, err := d.Get(ctx, "child", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wrote int64
	err, took = failsOnceFull(t, d, 3*time.Minute, "write into a full pool", func() error {
		var err error
		wrote, err = writeSynced(filepath.Join(root, "fill"), 128<<20)
		return err
	})
	t.Logf("write failed after %d MiB, %v after the pool filled: %v", wrote>>20, took.Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("writing 128 MiB into a 64 MiB pool succeeded")
	}
	if took > queueBound {
		t.Errorf("the write failed %v after the pool filled, not at once: it was queued (no error_if_no_space?)", took)
	}
	// The filesystem sees its device's ENOSPC (fsync), or EIO, or EROFS
	// once ext4 has aborted its journal; all are clean failures.
	if !errors.Is(err, unix.ENOSPC) && !errors.Is(err, unix.EIO) && !errors.Is(err, unix.EROFS) {
		t.Errorf("write error %v: want ENOSPC, EIO or EROFS", err)
	}
	if st := poolStatus(t, d); !st.OutOfDataSpace() {
		t.Errorf("pool not full after the write failed: %+v", st)
	}
	if err := d.Put(ctx, "child"); err != nil {
		t.Errorf("Put of the layer whose write failed: %v", err)
	}
	checkKeep("after the second fill")
	if err := d.Remove(ctx, "child"); err != nil {
		t.Fatalf("Remove child: %v", err)
	}
	// Mounted afresh once there is space: still the same data.
	if err := d.Put(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	if got := readLayer(t, d, "keep", "keep"); got != keep {
		t.Errorf("layer keep mounted again after the fills: %d bytes, want %d", len(got), len(keep))
	}

	// The pool works again: a new layer takes 8 MiB, and its diff says so.
	if err := d.Create(ctx, "after", "keep", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	root, err = d.Get(ctx, "after", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeSynced(filepath.Join(root, "new"), 8<<20); err != nil {
		t.Errorf("write after the space came back: %v", err)
	}
	if err := d.Put(ctx, "after"); err != nil {
		t.Fatal(err)
	}
	changes, err := d.Changes(ctx, "after", "keep")
	if err != nil || len(changes) != 1 || changes[0].Path != "/new" {
		t.Errorf("Changes(after, keep) = %+v, %v", changes, err)
	}
	for _, id := range []string{"after", "keep"} {
		if err := d.Remove(ctx, id); err != nil {
			t.Error(err)
		}
	}
}

// needXFS: mkfs.xfs (xfsprogs) on the host, which the guest shares; CI
// installs it.
func needXFS(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("mkfs.xfs"); err != nil {
		require.SkipOrFail(t, "devicemapper", "mkfs.xfs (xfsprogs) is not installed")
	}
}

// dm.fs=xfs: the base gets xfs, every layer mounts it with nouuid (all
// snapshots share the base's UUID, which xfs otherwise refuses to mount
// twice), and layers inherit and diff as with ext4.
func TestKernelXFS(t *testing.T) {
	c := needDM(t)
	needXFS(t)
	// xfsprogs 5.19+ refuses filesystems under 300 MB.
	d, _ := startTestDriver(t, c, "dm.fs=xfs", "dm.basesize=512M", "dm.loopdatasize=1G", "dm.loopmetadatasize=32M")
	ctx := t.Context()
	if err := d.Create(ctx, "l1", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyDiff(ctx, "l1", "", bytes.NewReader(tarOf(t, map[string]string{"a": "from l1"}))); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(ctx, "l2", "l1", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r1, err := d.Get(ctx, "l1", storage.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := d.Get(ctx, "l2", storage.GetOptions{})
	if err != nil {
		t.Fatalf("second xfs snapshot mounted alongside its parent: %v", err)
	}
	for _, r := range []string{r1, r2} {
		var sfs unix.Statfs_t
		if err := unix.Statfs(r, &sfs); err != nil || sfs.Type != unix.XFS_SUPER_MAGIC {
			t.Errorf("%s: filesystem type %#x, %v; want xfs", r, sfs.Type, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(r2, "a")); err != nil || string(b) != "from l1" {
		t.Errorf("l2 does not inherit l1's file: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(r2, "b"), []byte("from l2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r1, "b")); !os.IsNotExist(err) {
		t.Errorf("l1 sees l2's write: %v", err)
	}
	for _, id := range []string{"l2", "l1"} {
		if err := d.Put(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	changes, err := d.Changes(ctx, "l2", "l1")
	if err != nil || len(changes) != 1 || changes[0].Path != "/b" || changes[0].Kind != storage.ChangeAdd {
		t.Errorf("Changes(l2, l1) = %+v, %v", changes, err)
	}
	for _, id := range []string{"l2", "l1"} {
		if err := d.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// testPool makes a thin pool of the test's own on loop files (the
// operator's pool of dm.thinpooldev) and removes it at the end.
func testPool(t *testing.T, c *dm.Control, size int64) string {
	t.Helper()
	dir := t.TempDir()
	name := fmt.Sprintf("pluggd-test-%d-%d-pool", os.Getpid(), time.Now().UnixNano()%1e6)
	dataDev, metaDev := testLoops(t, dir, size)
	t.Cleanup(func() {
		if err := c.Remove(name, false); err != nil && !errors.Is(err, unix.ENXIO) {
			t.Errorf("remove test pool: %v", err)
		}
	})
	params := fmt.Sprintf("%s %s 128 32768 1 skip_block_zeroing", metaDev, dataDev)
	if err := c.CreateDevice(name, []dm.Target{{Start: 0, Length: uint64(size) / 512, Type: "thin-pool", Params: params}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// testLoops attaches two sparse files (data of size, 32 MiB metadata) to
// loop devices held open until the test ends (autoclear: they go with
// their last user).
func testLoops(t *testing.T, dir string, size int64) (string, string) {
	t.Helper()
	var devs []string
	for _, f := range []struct {
		name string
		size int64
	}{{"data", size}, {"metadata", 32 << 20}} {
		p := filepath.Join(dir, f.name)
		if err := ensureSparse(p, f.size); err != nil {
			t.Fatal(err)
		}
		l, err := dm.AttachLoop(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		devs = append(devs, l.Name())
	}
	return devs[0], devs[1]
}

// dm.thinpooldev: the driver takes an existing pool, reports it without
// data or metadata files, leaves it in place at Cleanup, finds its layers
// in it after a restart, and a second home refuses the pool once it holds
// data.
func TestKernelThinPoolDev(t *testing.T) {
	c := needDM(t)
	pool := testPool(t, c, 512<<20)
	opts := []string{"dm.thinpooldev=/dev/mapper/" + pool, "dm.basesize=64M"}
	d, home := startTestDriver(t, c, opts...)
	if d.set.opts.BlkDiscard {
		t.Error("dm.blkdiscard defaults to true with dm.thinpooldev")
	}
	s := statusMap(t, d)
	if s["Pool Name"] != pool || s["Data file"] != "" || s["Metadata file"] != "" || s["Data Space Total"] != "536.9 MB" {
		t.Errorf("Status with dm.thinpooldev: %q", s)
	}
	if _, ok := s["Data loop file"]; ok {
		t.Errorf("Status reports a loop file for dm.thinpooldev: %q", s)
	}
	ctx := t.Context()
	if err := d.Create(ctx, "l1", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyDiff(ctx, "l1", "", bytes.NewReader(tarOf(t, map[string]string{"f": "in the operator's pool"}))); err != nil {
		t.Fatal(err)
	}
	if err := d.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(pool); err != nil || !info.Exists {
		t.Fatalf("Cleanup removed the operator's pool: %+v, %v", info, err)
	}
	if info, err := c.Info(d.set.deviceName("l1")); err != nil || info.Exists {
		t.Errorf("layer device left active after Cleanup: %+v, %v", info, err)
	}

	d = restartTestDriver(t, c, home, opts...)
	if got := readLayer(t, d, "l1", "f"); got != "in the operator's pool" {
		t.Errorf("after restart on the pool: %q", got)
	}

	// A pool holding someone else's devices is not taken over.
	other := filepath.Join(t.TempDir(), Name)
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := start(ctx, storage.InitOptions{Home: other, Options: opts}); err == nil ||
		!strings.Contains(err.Error(), "unable to take ownership of thin pool "+pool) {
		t.Errorf("second home on a used pool: %v", err)
	}
	if _, err := start(ctx, storage.InitOptions{Home: other, Options: []string{"dm.thinpooldev=nosuch-pool"}}); err == nil ||
		!strings.Contains(err.Error(), "dm.thinpooldev nosuch-pool: no such device-mapper device") {
		t.Errorf("missing pool: %v", err)
	}
	if err := d.Remove(ctx, "l1"); err != nil {
		t.Fatal(err)
	}
}

// dm.datadev/dm.metadatadev: the pool is made on the given block devices
// (the test's loops), Status names them and no loop files, Cleanup
// removes the pool but not the devices.
func TestKernelDataDevices(t *testing.T) {
	c := needDM(t)
	dataDev, metaDev := testLoops(t, t.TempDir(), 512<<20)
	d, _ := startTestDriver(t, c, "dm.datadev="+dataDev, "dm.metadatadev="+metaDev, "dm.basesize=64M")
	s := statusMap(t, d)
	if s["Data file"] != dataDev || s["Metadata file"] != metaDev || s["Data Space Total"] != "536.9 MB" {
		t.Errorf("Status with dm.datadev: %q", s)
	}
	if _, ok := s["Data loop file"]; ok {
		t.Errorf("Status reports a loop file for dm.datadev: %q", s)
	}
	if d.set.opts.BlkDiscard {
		t.Error("dm.blkdiscard defaults to true with dm.datadev")
	}
	ctx := t.Context()
	if err := d.Create(ctx, "l1", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyDiff(ctx, "l1", "", bytes.NewReader(tarOf(t, map[string]string{"f": "on datadev"}))); err != nil {
		t.Fatal(err)
	}
	if got := readLayer(t, d, "l1", "f"); got != "on datadev" {
		t.Errorf("l1: %q", got)
	}
	pool := d.set.poolName
	if err := d.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(pool); err != nil || info.Exists {
		t.Errorf("pool left after Cleanup: %+v, %v", info, err)
	}
	if _, err := os.Stat(dataDev); err != nil {
		t.Errorf("data device: %v", err)
	}
}

// dm.use_deferred_removal: a layer whose device something else still
// holds open is put anyway (the kernel removes the device at its last
// close); without the option that Put fails with EBUSY. A Get while the
// removal is pending takes it back; Remove of a layer whose device is
// still held is ErrLayerInUse and changes nothing; once the holder lets
// go, the device is gone and Remove works.
func TestKernelDeferredRemoval(t *testing.T) {
	c := needDM(t)
	d, _ := startTestDriver(t, c, "dm.use_deferred_removal=true", "dm.loopdatasize=512M", "dm.loopmetadatasize=32M", "dm.basesize=64M")
	if s := statusMap(t, d); s["Deferred Removal Enabled"] != "true" {
		t.Errorf("Deferred Removal Enabled = %q", s["Deferred Removal Enabled"])
	}
	ctx := t.Context()
	if err := d.Create(ctx, "l1", "", storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyDiff(ctx, "l1", "", bytes.NewReader(tarOf(t, map[string]string{"f": "kept"}))); err != nil {
		t.Fatal(err)
	}
	name := d.set.deviceName("l1")
	if _, err := d.Get(ctx, "l1", storage.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// Something else holds the device: what a mount leaked into another
	// mount namespace does, which is why Docker added the option.
	holder, err := os.Open(dm.NodePath(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Close() })

	// Without the option: EBUSY after the retries.
	d.set.opts.DeferredRemoval = false
	start := time.Now()
	err = d.Put(ctx, "l1")
	t.Logf("Put without deferred removal: %v after %v", err, time.Since(start).Round(time.Millisecond))
	if !errors.Is(err, unix.EBUSY) {
		t.Errorf("Put of a held device without deferred removal: %v, want EBUSY", err)
	}
	d.set.opts.DeferredRemoval = true
	if err := d.Put(ctx, "l1"); err != nil {
		t.Fatalf("Put of a held device with deferred removal: %v", err)
	}
	info, err := c.Info(name)
	if err != nil || !info.Exists || !info.DeferredRemove {
		t.Fatalf("after Put: %+v, %v; want the device there with its removal pending", info, err)
	}

	// A Get while the removal is pending cancels it and mounts again.
	if got := readLayer(t, d, "l1", "f"); got != "kept" {
		t.Errorf("l1 after a cancelled deferred removal: %q", got)
	}
	if info, err := c.Info(name); err != nil || !info.Exists || !info.DeferredRemove {
		t.Fatalf("after the second Put: %+v, %v", info, err)
	}
	start = time.Now()
	err = d.Remove(ctx, "l1")
	t.Logf("Remove while held: %v after %v", err, time.Since(start).Round(time.Millisecond))
	if !errors.Is(err, storage.ErrLayerInUse) {
		t.Errorf("Remove while the device is held: %v, want ErrLayerInUse", err)
	}
	if tr, err := d.set.meta.loadTransaction(); err != nil || tr.OpenTransactionID != d.set.tid {
		t.Errorf("transaction left open by the refused Remove: %+v, %v (pool at %d)", tr, err, d.set.tid)
	}
	if ok, _ := d.Exists(ctx, "l1"); !ok {
		t.Fatal("the refused Remove removed l1")
	}

	// The last close completes the removal.
	holder.Close()
	// The kernel queues the removal at the last close (dm_blk_close).
	for try := 0; ; try++ {
		info, err := c.Info(name)
		if err == nil && !info.Exists {
			break
		}
		if try == 100 {
			t.Fatalf("device still there 2 s after its last close: %+v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.Remove(ctx, "l1"); err != nil {
		t.Fatal(err)
	}
}

// allocated is the space a (sparse) file really takes.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// dm.blkdiscard: removing a layer that wrote 32 MiB gives that space back
// to the filesystem holding the loop data file when it is on (the loop
// default), and not when it is off.
func TestKernelBlkDiscard(t *testing.T) {
	c := needDM(t)
	d, home := startTestDriver(t, c, "dm.blkdiscard=false", "dm.loopdatasize=512M", "dm.loopmetadatasize=32M", "dm.basesize=128M")
	if st, _ := c.Status(d.set.poolName); len(st) == 1 && !strings.Contains(st[0].Params, " discard_passdown") {
		t.Fatalf("the pool does not pass discards down to its loop device: %q", st[0].Params)
	}
	data := filepath.Join(home, "devicemapper", "data")
	ctx := t.Context()
	freed := func(id string) int64 {
		t.Helper()
		if err := d.Create(ctx, id, "", storage.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		root, err := d.Get(ctx, id, storage.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := writeSynced(filepath.Join(root, "x"), 32<<20); err != nil {
			t.Fatal(err)
		}
		if err := d.Put(ctx, id); err != nil {
			t.Fatal(err)
		}
		before := allocated(t, data)
		if err := d.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
		after := allocated(t, data)
		t.Logf("dm.blkdiscard=%v: data file %d MiB before Remove, %d MiB after", d.set.opts.BlkDiscard, before>>20, after>>20)
		return before - after
	}
	if n := freed("off"); n > 4<<20 {
		t.Errorf("dm.blkdiscard=false: Remove freed %d MiB of the data file", n>>20)
	}
	d.set.opts.BlkDiscard = true // what the loop default (no dm.blkdiscard) gives
	if n := freed("on"); n < 28<<20 {
		t.Errorf("dm.blkdiscard=true: Remove freed only %d KiB of the data file, want the layer's 32 MiB", n>>10)
	}
}

package dm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/test/require"
	"golang.org/x/sys/unix"
)

// needDM opens the control node or skips (requirement "devicemapper").
// On pluggd's CI hosts it skips; TestInVM in package devmapper runs these
// tests again inside a QEMU guest whose kernel has dm-thin.
func needDM(t *testing.T) *Control {
	t.Helper()
	require.Root(t)
	c, err := Open()
	if err != nil {
		require.SkipOrFail(t, "devicemapper", fmt.Sprintf("cannot open %s: %v", ControlPath, err))
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Version(); err != nil {
		require.SkipOrFail(t, "devicemapper", err.Error())
	}
	return c
}

func TestKernelVersion(t *testing.T) {
	c := needDM(t)
	v, err := c.Version()
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != 4 {
		t.Errorf("version %v, want major 4", v)
	}
	t.Logf("device-mapper interface %d.%d.%d", v[0], v[1], v[2])
}

// TestKernelThinPool builds a loop-backed thin pool, a thin volume and a
// snapshot of it, writes through the snapshot with a real filesystem, and
// tears everything down: the exact sequence the driver relies on.
func TestKernelThinPool(t *testing.T) {
	c := needDM(t)
	dir := t.TempDir()
	name := fmt.Sprintf("pluggd-dmtest-%d", os.Getpid())
	pool, thin, snap := name+"-pool", name+"-1", name+"-2"

	data := sparse(t, filepath.Join(dir, "data"), 256<<20)
	meta := sparse(t, filepath.Join(dir, "metadata"), 16<<20)
	dataLoop, err := AttachLoop(data)
	if err != nil {
		t.Fatal(err)
	}
	metaLoop, err := AttachLoop(meta)
	if err != nil {
		dataLoop.Close()
		t.Fatal(err)
	}
	// Registered before the pool exists so a failure anywhere below
	// still removes what was made; Remove of a missing device is ENXIO.
	t.Cleanup(func() {
		for _, n := range []string{snap, thin, pool} {
			if err := c.Remove(n, false); err != nil && !errors.Is(err, unix.ENXIO) {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	err = c.CreateDevice(pool, []Target{{0, (256 << 20) / 512, "thin-pool",
		fmt.Sprintf("%s %s 128 32768 1 skip_block_zeroing", metaLoop.Name(), dataLoop.Name())}})
	// The pool holds both loops now (or failed): autoclear detaches them
	// once the pool is gone.
	dataLoop.Close()
	metaLoop.Close()
	if err != nil {
		t.Fatal(err)
	}

	st, err := c.PoolStatus(pool)
	if err != nil {
		t.Fatal(err)
	}
	if st.TransactionID != 0 || st.TotalDataBlocks != 4096 {
		t.Errorf("fresh pool status %+v, want transaction 0 and 4096 data blocks", st)
	}
	if err := c.SetTransactionID(pool, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTransactionID(pool, 0, 2); !errors.Is(err, unix.EINVAL) {
		t.Errorf("set_transaction_id from a stale id: %v, want EINVAL", err)
	}

	if err := c.CreateThin(pool, 1); err != nil {
		t.Fatal(err)
	}
	poolInfo, err := c.Info(pool)
	if err != nil {
		t.Fatal(err)
	}
	poolDev := fmt.Sprintf("%d:%d", poolInfo.Major, poolInfo.Minor)
	thinTable := func(id int) []Target {
		return []Target{{0, (64 << 20) / 512, "thin", fmt.Sprintf("%s %d", poolDev, id)}}
	}
	if err := c.CreateDevice(thin, thinTable(1)); err != nil {
		t.Fatal(err)
	}
	if tb, err := c.Table(thin); err != nil || len(tb) != 1 || tb[0].Type != "thin" || tb[0].Params != poolDev+" 1" {
		t.Errorf("table of %s: %+v, %v", thin, tb, err)
	}
	run(t, "mkfs.ext4", "-q", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0", NodePath(thin))

	// Docker suspends the origin around create_snap so the snapshot is
	// consistent; so do we.
	if err := c.Suspend(thin); err != nil {
		t.Fatal(err)
	}
	err = c.CreateSnap(pool, 2, 1)
	if rerr := c.Resume(thin); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDevice(snap, thinTable(2)); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(NodePath(snap), mnt, "ext4", 0, "discard"); err != nil {
		t.Fatal(err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			_ = unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	if err := os.WriteFile(filepath.Join(mnt, "hello"), []byte("thin"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	if after, err := c.PoolStatus(pool); err != nil || after.UsedDataBlocks == 0 {
		t.Errorf("pool status after writes: %+v, %v", after, err)
	}

	info, err := c.Info(snap)
	if err != nil || !info.Exists || !info.LiveTable || info.OpenCount != 0 {
		t.Errorf("Info(%s) = %+v, %v", snap, info, err)
	}
	for _, n := range []string{snap, thin} {
		if err := c.Remove(n, false); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(NodePath(n)); !os.IsNotExist(err) {
			t.Errorf("node of %s left behind: %v", n, err)
		}
	}
	if info, err := c.Info(snap); err != nil || info.Exists {
		t.Errorf("Info of a removed device = %+v, %v", info, err)
	}
	for _, id := range []uint32{2, 1} {
		if err := c.DeleteThin(pool, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Remove(pool, false); err != nil {
		t.Fatal(err)
	}
}

func sparse(t *testing.T, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		require.SkipOrFail(t, "devicemapper", name+" is not installed")
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

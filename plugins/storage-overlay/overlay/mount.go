package overlay

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Get implements storage.Driver. A base layer is its diff dir, unmounted;
// any other layer is an overlayfs mount on merged/. The count of Gets is
// kept even for base layers so that Remove can refuse a layer in use.
func (d *Driver) Get(ctx context.Context, id string, opts storage.GetOptions) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLayer(id); err != nil {
		return "", err
	}
	lowers, err := d.lowersOf(id)
	if err != nil {
		return "", err
	}
	if len(lowers) == 0 {
		d.refs[id]++
		return d.diffDir(id), nil
	}
	merged := filepath.Join(d.dir(id), "merged")
	if d.refs[id] > 0 {
		d.refs[id]++
		return merged, nil
	}
	// A previous process of the driver may have left the layer mounted
	// (the daemon replays its Gets after relaunching us): adopt the mount
	// rather than stacking a second one on it.
	mounted, err := isMounted(merged)
	if err != nil {
		return "", err
	}
	if !mounted {
		if err := d.mount(id, lowers, opts.MountLabel); err != nil {
			return "", err
		}
	}
	d.refs[id] = 1
	return merged, nil
}

// Put implements storage.Driver.
func (d *Driver) Put(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLayer(id); err != nil {
		return err
	}
	if d.refs[id] == 0 {
		return errdefs.InvalidParameter(fmt.Errorf("overlay: Put of layer %q without a Get", id))
	}
	if d.refs[id] > 1 {
		d.refs[id]--
		return nil
	}
	if lowers, err := d.lowersOf(id); err != nil {
		return err
	} else if len(lowers) > 0 {
		if err := unmount(filepath.Join(d.dir(id), "merged")); err != nil {
			return err
		}
	}
	delete(d.refs, id)
	return nil
}

// mountData builds the overlay options. Absolute paths when they fit in
// the kernel's page for mount data; otherwise paths relative to the home,
// for a mount made with the home as working directory (relative says so).
func (d *Driver) mountData(id string, lowers []string, label string, abs bool) string {
	base := ""
	if abs {
		base = d.home + "/"
	}
	ls := make([]string, len(lowers))
	for i, l := range lowers {
		ls[i] = base + l
	}
	data := "lowerdir=" + strings.Join(ls, ":") +
		",upperdir=" + base + id + "/diff" +
		",workdir=" + base + id + "/work"
	if d.indexOff {
		data += ",index=off"
	}
	if label != "" {
		data += `,context="` + label + `"`
	}
	return data
}

// maxMountData: the kernel copies mount data into one page, NUL included.
func maxMountData() int { return unix.Getpagesize() - 1 }

func (d *Driver) mount(id string, lowers []string, label string) error {
	target := filepath.Join(d.dir(id), "merged")
	if data := d.mountData(id, lowers, label, true); len(data) <= maxMountData() {
		if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
			return fmt.Errorf("overlay: mount %s: %w", target, err)
		}
		return nil
	}
	data := d.mountData(id, lowers, label, false)
	if len(data) > maxMountData() {
		return fmt.Errorf("overlay: mount options of layer %q are %d bytes, more than the kernel takes (%d): %w", id, len(data), maxMountData(), storage.ErrTooDeep)
	}
	if err := mountFrom(d.home, id+"/merged", data); err != nil {
		return fmt.Errorf("overlay: mount %s (relative to %s): %w", target, d.home, err)
	}
	return nil
}

// mountFrom mounts overlayfs with paths relative to dir. The working
// directory is per process, so the mount runs on a locked OS thread that
// first unshares its filesystem attributes (CLONE_FS) and then changes to
// dir; the thread is never unlocked, so the Go runtime ends it with the
// goroutine instead of handing it, with its odd working directory, to
// other code. The mount itself lands in the shared mount namespace.
func mountFrom(dir, target, data string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_FS): %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		errc <- unix.Mount("overlay", target, "overlay", 0, data)
	}()
	return <-errc
}

// unmount unmounts target, lazily when it is busy (a process still has
// its cwd there) so the layer is released as soon as it is left.
func unmount(target string) error {
	err := unix.Unmount(target, 0)
	if err == unix.EBUSY {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	if err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("overlay: unmount %s: %w", target, err)
	}
	return nil
}

// mountPoints lists the mount points of this process's namespace.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		out = append(out, unescapeMountinfo(fields[4]))
	}
	return out, s.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMounted(target string) (bool, error) {
	mps, err := mountPoints()
	if err != nil {
		return false, err
	}
	for _, m := range mps {
		if m == target {
			return true, nil
		}
	}
	return false, nil
}

// mountsBelow lists mount points under dir, deepest first.
func mountsBelow(dir string) ([]string, error) {
	mps, err := mountPoints()
	if err != nil {
		return nil, err
	}
	var out []string
	for i := len(mps) - 1; i >= 0; i-- {
		if strings.HasPrefix(mps[i], dir+"/") {
			out = append(out, mps[i])
		}
	}
	return out, nil
}

package aufs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mountAufs mounts rw over ro (nearest first) on target, appending by
// remount the branches that do not fit in one page (see branchOptions).
func mountAufs(rw string, ro []string, target, label string, dirperm1 bool) error {
	first, appends := branchOptions(rw, ro, label, dirperm1, os.Getpagesize())
	if err := unix.Mount("none", target, "aufs", 0, first); err != nil {
		return fmt.Errorf("aufs: mount %s: %w", target, err)
	}
	for _, data := range appends {
		if err := unix.Mount("none", target, "aufs", unix.MS_REMOUNT, data); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("aufs: remount %s with %q: %w", target, data, err)
		}
	}
	return nil
}

// unmount flushes the pseudo-links of the mount with auplink first, as
// Docker 1.7 did; its failure (often: aufs-tools not installed) is only
// logged, because the unmount itself still works.
func unmount(ctx context.Context, target string) error {
	if out, err := exec.CommandContext(ctx, "auplink", target, "flush").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "aufs: auplink %s flush: %v: %s\n", target, err, strings.TrimSpace(string(out)))
	}
	if err := unix.Unmount(target, 0); err != nil {
		return fmt.Errorf("aufs: unmount %s: %w", target, err)
	}
	return nil
}

// isMountPoint compares the device of dir with its parent's.
func isMountPoint(dir string) (bool, error) {
	var st, pst unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		if err == unix.ENOENT {
			return false, nil
		}
		return false, &os.PathError{Op: "lstat", Path: dir, Err: err}
	}
	if err := unix.Lstat(filepath.Dir(dir), &pst); err != nil {
		return false, &os.PathError{Op: "lstat", Path: filepath.Dir(dir), Err: err}
	}
	return st.Dev != pst.Dev, nil
}

func unmountIfMounted(ctx context.Context, dir string) error {
	m, err := isMountPoint(dir)
	if err != nil || !m {
		return err
	}
	return unmount(ctx, dir)
}

// probeDirperm1 mounts a one-branch aufs with dirperm1 once, at start:
// kernels before aufs 3.18 reject the option (Docker 1.7's useDirperm).
func probeDirperm1(home string) bool {
	dir, err := os.MkdirTemp(home, ".dirperm1-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	br, mnt := filepath.Join(dir, "branch"), filepath.Join(dir, "mnt")
	if os.Mkdir(br, 0o755) != nil || os.Mkdir(mnt, 0o755) != nil {
		return false
	}
	if err := unix.Mount("none", mnt, "aufs", 0, "br:"+br+",dirperm1"); err != nil {
		return false
	}
	unix.Unmount(mnt, unix.MNT_DETACH)
	return true
}

// makePrivate makes home a mount point of its own with private
// propagation, as Docker 1.7 did (mount.MakePrivate on the driver's
// root), so that the layer mounts below it do not propagate into other
// mount namespaces, where a container would hold them busy, nor theirs
// into ours. When home is no mount point yet it is bind-mounted onto
// itself first; made reports that, so that Cleanup undoes it.
func makePrivate(home string) (made bool, err error) {
	mounted, err := mountinfo.Mounted(home)
	if err != nil {
		return false, fmt.Errorf("aufs: is %s a mount point: %w", home, err)
	}
	if !mounted {
		if err := unix.Mount(home, home, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return false, fmt.Errorf("aufs: bind-mount %s onto itself: %w", home, err)
		}
	}
	if err := unix.Mount("", home, "", unix.MS_PRIVATE, ""); err != nil {
		if !mounted {
			unix.Unmount(home, unix.MNT_DETACH)
		}
		return false, fmt.Errorf("aufs: make %s a private mount: %w", home, err)
	}
	return !mounted, nil
}

package aufs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
)

// errNoAufs is the refusal on a kernel without aufs (every Debian kernel).
const errNoAufs = "aufs is not in /proc/filesystems"

// listsAufs reports whether the content of /proc/filesystems names aufs
// (Docker 1.7 looked for the substring "aufs\n").
func listsAufs(filesystems string) bool {
	for _, line := range strings.Split(filesystems, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == "aufs" {
			return true
		}
	}
	return false
}

func hasAufs() (bool, error) {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false, err
	}
	return listsAufs(string(b)), nil
}

// checkKernel makes sure aufs is available, loading the module once if it
// is not, as Docker does. modprobe's own complaint goes to the plugin's
// stderr (the daemon's log), not into the error, so the refusal reads the
// same on every host.
func checkKernel(ctx context.Context) error {
	ok, err := hasAufs()
	if err != nil {
		return fmt.Errorf("aufs: %w: %w", err, storage.ErrNotSupported)
	}
	if ok {
		return nil
	}
	out, merr := exec.CommandContext(ctx, "modprobe", "aufs").CombinedOutput()
	if ok, _ = hasAufs(); ok {
		return nil
	}
	if merr != nil {
		fmt.Fprintf(os.Stderr, "aufs: modprobe aufs: %v: %s\n", merr, strings.TrimSpace(string(out)))
	}
	return fmt.Errorf("aufs: %s: %w", errNoAufs, storage.ErrNotSupported)
}

// fsName is Docker's name for a statfs magic number (graphdriver's
// FsNames), so "Backing Filesystem" reads as it did.
func fsName(magic int64) string {
	switch magic {
	case 0x61756673:
		return "aufs"
	case 0x9123683E:
		return "btrfs"
	case 0x0000EF53:
		return "extfs"
	case 0x01021994:
		return "tmpfs"
	case 0x58465342:
		return "xfs"
	case 0x2FC12FC1:
		return "zfs"
	case 0x6969:
		return "nfs"
	case 0x794c7630:
		return "overlayfs"
	case 0x858458f6:
		return "ramfs"
	}
	return "<unknown>"
}

// backingFS names the filesystem of the home's parent, as Docker did.
func backingFS(home string) (string, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(home), &sfs); err != nil {
		return "", fmt.Errorf("aufs: statfs %s: %w", filepath.Dir(home), err)
	}
	return fsName(int64(sfs.Type)), nil
}

// checkBackingFS refuses what Docker 1.7 refused under aufs branches.
func checkBackingFS(name, home string) error {
	switch name {
	case "aufs", "btrfs":
		return fmt.Errorf("aufs: %s cannot hold aufs branches (home %s): %w", name, home, storage.ErrIncompatibleFS)
	}
	return nil
}

// Package backingfs names the filesystem a storage driver's home lives
// on, as Docker 1.7 reported it in the "Backing Filesystem" DriverStatus
// row: the statfs magic of the home's parent (the home itself may be a
// mount point of its own), named by graphdriver's FsNames table. It is
// for driver authors; the contract package itself stays stdlib-only.
package backingfs

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Name is Docker's name for a statfs magic number (graphdriver's
// FsNames), so a driver's "Backing Filesystem" reads as it did; a magic
// it did not know is "<unknown>".
func Name(magic int64) string {
	switch magic {
	case 0x61756673:
		return "aufs"
	case 0x9123683E:
		return "btrfs"
	case 0x28cd3d45:
		return "cramfs"
	case 0x0000EF53:
		return "extfs"
	case 0xF2F52010:
		return "f2fs"
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
	case 0x9fa0:
		return "proc"
	case 0x73717368:
		return "squashfs"
	case 0x65735546:
		return "fuse"
	case 0x517B:
		return "smb"
	case 0xf15f:
		return "ecryptfs"
	case 0x858458f6:
		return "ramfs"
	case 0x4244:
		return "hfs"
	case 0x3153464a:
		return "jfs"
	case 0x52654973:
		return "reiserfs"
	case 0x15013346:
		return "udf"
	case 0x62656572:
		return "sysfs"
	}
	return "<unknown>"
}

// Of names the filesystem of home's parent.
func Of(home string) (string, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(home), &sfs); err != nil {
		return "", &os.PathError{Op: "statfs", Path: filepath.Dir(home), Err: err}
	}
	return Name(int64(sfs.Type)), nil
}

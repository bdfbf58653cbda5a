package dm

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Discard issues BLKDISCARD over the whole block device at path. On a thin
// device this unmaps its blocks in the pool and, with discard passdown
// (the pool's default), passes the discard on to the data device: a loop
// device then punches holes in its sparse file, giving the space back to
// the host's filesystem. Docker 1.7 did this before deleting a device
// (dm.blkdiscard) because deleting a thin device frees its blocks only in
// the pool's metadata, never in the file below.
func Discard(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var size uint64
	if err := ioctlPtr(f.Fd(), unix.BLKGETSIZE64, unsafe.Pointer(&size)); err != nil {
		return fmt.Errorf("BLKGETSIZE64 %s: %w", path, err)
	}
	r := [2]uint64{0, size} // offset, length in bytes
	if err := ioctlPtr(f.Fd(), unix.BLKDISCARD, unsafe.Pointer(&r)); err != nil {
		return fmt.Errorf("BLKDISCARD %s: %w", path, err)
	}
	return nil
}

func ioctlPtr(fd uintptr, req uint, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

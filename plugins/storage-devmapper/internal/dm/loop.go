package dm

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// AttachLoop attaches file to a free loop device and returns that device,
// open (its Name is /dev/loopN). The device has LO_FLAGS_AUTOCLEAR: the
// kernel detaches it at its last close, so the caller keeps the returned
// file open until something else holds the device (the thin-pool table
// that names it), then closes it; a crash in between leaks no loop device.
func AttachLoop(file string) (*os.File, error) {
	f, err := os.OpenFile(file, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	defer ctl.Close()
	// Another process may take the free device between GET_FREE and
	// SET_FD (EBUSY): ask again, a bounded number of times.
	for range 16 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("loop: get free device: %w", err)
		}
		path := fmt.Sprintf("/dev/loop%d", n)
		dev, err := openLoop(path, n)
		if err != nil {
			return nil, err
		}
		err = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_SET_FD, int(f.Fd()))
		if err == unix.EBUSY {
			dev.Close()
			continue
		}
		if err != nil {
			dev.Close()
			return nil, fmt.Errorf("loop: attach %s to %s: %w", file, path, err)
		}
		info := unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR}
		copy(info.File_name[:len(info.File_name)-1], file)
		if err := unix.IoctlLoopSetStatus64(int(dev.Fd()), &info); err != nil {
			_ = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
			dev.Close()
			return nil, fmt.Errorf("loop: set status of %s: %w", path, err)
		}
		return dev, nil
	}
	return nil, fmt.Errorf("loop: no free loop device for %s after 16 tries", file)
}

// openLoop opens /dev/loopN, making the node first when devtmpfs did not
// (loop major 7).
func openLoop(path string, n int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if os.IsNotExist(err) {
		if merr := unix.Mknod(path, unix.S_IFBLK|0o660, int(unix.Mkdev(7, uint32(n)))); merr != nil && !os.IsExist(merr) {
			return nil, fmt.Errorf("loop: mknod %s: %w", path, merr)
		}
		f, err = os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	return f, nil
}

// DetachLoop detaches the loop device at path (LOOP_CLR_FD). With
// autoclear set this only marks it for detaching at its last close.
func DetachLoop(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0); err != nil && err != unix.ENXIO {
		return fmt.Errorf("loop: detach %s: %w", path, err)
	}
	return nil
}

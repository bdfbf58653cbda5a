package overlay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
)

// hasOverlay reads /proc/filesystems for the exact line Docker 1.7 looks
// for, "nodev\toverlay".
func hasOverlay() (bool, error) {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if s.Text() == "nodev\toverlay" {
			return true, nil
		}
	}
	return false, s.Err()
}

// checkKernel makes sure overlayfs is available, loading the module once
// if it is not, as Docker does.
func checkKernel(ctx context.Context) error {
	ok, err := hasOverlay()
	if err != nil {
		return fmt.Errorf("overlay: %w: %w", err, storage.ErrNotSupported)
	}
	if ok {
		return nil
	}
	out, merr := exec.CommandContext(ctx, "modprobe", "overlay").CombinedOutput()
	if ok, _ = hasOverlay(); ok {
		return nil
	}
	msg := "overlay is not in /proc/filesystems"
	if merr != nil {
		msg += fmt.Sprintf(" and modprobe overlay failed (%v: %s)", merr, strings.TrimSpace(string(out)))
	}
	return fmt.Errorf("overlay: %s: %w", msg, storage.ErrNotSupported)
}

// supportsDType creates a file and reads the directory raw: overlayfs
// misbehaves (whiteouts go unseen) on a filesystem whose directory entries
// carry DT_UNKNOWN, such as xfs made with ftype=0.
func supportsDType(home string) (bool, error) {
	dir, err := os.MkdirTemp(home, tmpPrefix+"dtype-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		return false, err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.ReadDirent(fd, buf)
	if err != nil {
		return false, err
	}
	// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
	// d_type u8, then the NUL-terminated name.
	for off := 0; off+19 < n; {
		reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
		if reclen == 0 || off+reclen > n {
			break
		}
		name, _, _ := bytes.Cut(buf[off+19:off+reclen], []byte{0})
		if string(name) == "f" {
			return buf[off+18] != unix.DT_UNKNOWN, nil
		}
		off += reclen
	}
	return false, fmt.Errorf("overlay: d_type probe: the file created in %s was not listed", dir)
}

// trialMount proves that overlayfs works in home (two lowers, an upper,
// a work dir) and whether it takes "index=off".
func trialMount(home string) (indexOff bool, err error) {
	dir, err := os.MkdirTemp(home, tmpPrefix+"trial-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	for _, sub := range []string{"l1", "l2", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return false, err
		}
	}
	target := filepath.Join(dir, "merged")
	data := fmt.Sprintf("lowerdir=%s:%s,upperdir=%s,workdir=%s", filepath.Join(dir, "l1"), filepath.Join(dir, "l2"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	mountErr := unix.Mount("overlay", target, "overlay", 0, data+",index=off")
	if mountErr == nil {
		indexOff = true
	} else {
		mountErr = unix.Mount("overlay", target, "overlay", 0, data)
	}
	if mountErr != nil {
		return false, fmt.Errorf("overlay: a trial overlayfs mount in %s failed: %v: %w", home, mountErr, storage.ErrNotSupported)
	}
	if err := unmount(target); err != nil {
		return false, err
	}
	return indexOff, nil
}

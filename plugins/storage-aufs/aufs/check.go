package aufs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

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

// checkBackingFS refuses what Docker 1.7 refused under aufs branches.
func checkBackingFS(name, home string) error {
	switch name {
	case "aufs", "btrfs":
		return fmt.Errorf("aufs: %s cannot hold aufs branches (home %s): %w", name, home, storage.ErrIncompatibleFS)
	}
	return nil
}

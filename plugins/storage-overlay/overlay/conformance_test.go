package overlay_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/test/require"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/storagetest"
	"github.com/pluggd/pluggd/plugins/storage-overlay/overlay"
)

// TestConformance runs the storage conformance suite against the overlay
// driver in this process (the plugin glue runs it again through gRPC and
// against the built binary).
func TestConformance(t *testing.T) {
	require.Overlay(t)
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		// The home is <daemon root>/overlay, as the daemon makes it.
		home := filepath.Join(t.TempDir(), "overlay")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		d, err := overlay.New(t.Context(), storage.InitOptions{Home: home})
		if errors.Is(err, storage.ErrNotSupported) || errors.Is(err, storage.ErrIncompatibleFS) || errors.Is(err, storage.ErrPrerequisites) {
			require.SkipOrFail(t, "overlay", err.Error())
		}
		if err != nil {
			t.Fatalf("overlay.New: %v", err)
		}
		// Registered after t.TempDir, so it runs before the home is
		// removed.
		t.Cleanup(func() {
			// t.Context is cancelled by the time cleanups run.
			if err := d.Cleanup(context.Background()); err != nil {
				t.Errorf("Cleanup: %v", err)
			}
			if left := mountsBelow(t, home); len(left) > 0 {
				t.Errorf("Cleanup left %d mounts below the home: %q", len(left), left)
				for _, m := range left {
					if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
						t.Errorf("unmounting %s: %v", m, err)
					}
				}
			}
		})
		return d
	})
}

// mountsBelow lists the mount points under dir, deepest first.
func mountsBelow(t *testing.T, dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for s.Scan() {
		// Field 5 is the mount point, with " ", "\t", "\n" and "\\"
		// escaped as octal (proc(5)).
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeOctal(fields[4])
		if strings.HasPrefix(p, dir+"/") {
			found = append(found, p)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(found, func(a, b string) int { return len(b) - len(a) })
	return found
}

func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

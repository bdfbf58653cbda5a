package devmapper

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// On every host today New refuses: without device-mapper because the
// kernel lacks it, with it because pool management is not written yet.
// Either way the error must be ErrNotSupported so "auto" moves on.
func TestNewRefusesWithNotSupported(t *testing.T) {
	d, err := New(context.Background(), storage.InitOptions{Home: t.TempDir()})
	if d != nil || !errors.Is(err, storage.ErrNotSupported) {
		t.Fatalf("New = %v, %v; want ErrNotSupported", d, err)
	}
	if !strings.HasPrefix(err.Error(), "devicemapper: ") {
		t.Errorf("message %q does not name the driver", err)
	}
	t.Log(err)
}

// The message of a host without device-mapper (this project's CI hosts)
// names the node it could not open and why.
func TestProbeWithoutDeviceMapper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control")
	_, err := probe(path)
	if !errors.Is(err, storage.ErrNotSupported) {
		t.Fatalf("probe: %v, want ErrNotSupported", err)
	}
	for _, want := range []string{"cannot open " + path, "device-mapper", "no such file or directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

// A file that is not a dm control node opens but fails DM_VERSION
// (ENOTTY): also "not supported", with the reason.
func TestProbeNotAControlNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := probe(path)
	if !errors.Is(err, storage.ErrNotSupported) || !strings.Contains(err.Error(), "cannot read the device-mapper version") {
		t.Fatalf("probe: %v", err)
	}
}

// Options are checked before the kernel, so an operator's typo is
// reported as such, not hidden behind "not supported".
func TestNewBadOptionBeforeKernel(t *testing.T) {
	_, err := New(context.Background(), storage.InitOptions{Home: t.TempDir(), Options: []string{"dm.nosuch=1"}})
	if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "dm.nosuch") {
		t.Fatalf("New with dm.nosuch: %v", err)
	}
}

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
	"github.com/pluggd/pluggd/plugins/storage-devmapper/internal/dm"
)

// Where device-mapper is missing (this project's hosts and CI) New
// refuses with ErrNotSupported, so "auto" moves on, and says why.
func TestNewRefusesWithNotSupported(t *testing.T) {
	if _, err := probe(dm.ControlPath); err == nil {
		t.Skip("device-mapper is available here: TestNewStarts covers New")
	}
	d, err := New(context.Background(), storage.InitOptions{Home: t.TempDir()})
	if d != nil || !errors.Is(err, storage.ErrNotSupported) {
		t.Fatalf("New = %v, %v; want ErrNotSupported", d, err)
	}
	if !strings.HasPrefix(err.Error(), "devicemapper: ") {
		t.Errorf("message %q does not name the driver", err)
	}
	t.Log(err)
}

// Where device-mapper works (the VM) New starts the driver.
func TestNewStarts(t *testing.T) {
	c := needDM(t)
	home := filepath.Join(t.TempDir(), Name)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	prefix, err := namePrefix(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(t, c, home, prefix) })
	d, err := New(t.Context(), storage.InitOptions{Home: home,
		Options: []string{"dm.loopdatasize=512M", "dm.loopmetadatasize=32M", "dm.basesize=64M"}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Cleanup(context.Background()); err != nil {
		t.Errorf("Cleanup: %v", err)
	}
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

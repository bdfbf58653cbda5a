package devmapper

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/driver/storage/storagetest"
)

// TestKernelConformance runs the storage conformance suite against the
// driver on a loop-backed pool of its own per check (in the VM; New still
// refuses, so the test starts the driver with start).
func TestKernelConformance(t *testing.T) {
	c := needDM(t)
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		home := filepath.Join(t.TempDir(), Name)
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		prefix, err := namePrefix(home)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeAll(t, c, home, prefix) })
		d, err := start(t.Context(), storage.InitOptions{Home: home,
			Options: []string{"dm.loopdatasize=512M", "dm.loopmetadatasize=32M", "dm.basesize=64M"}})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		t.Cleanup(func() {
			if err := d.Cleanup(context.Background()); err != nil {
				t.Errorf("Cleanup: %v", err)
			}
		})
		return d
	})
}

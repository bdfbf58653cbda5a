package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

func TestDirs(t *testing.T) {
	d := Dirs{Root: t.TempDir()}
	a := exec.ContainerSpec{ID: "0123456789abcdef-a"}
	type rec struct {
		Spec  exec.ContainerSpec `json:"spec"`
		Extra string
	}
	dir, err := d.Create(a, rec{Spec: a, Extra: "x"})
	if err != nil || filepath.Base(dir) != "0123456789ab" {
		t.Fatalf("Create = %q, %v", dir, err)
	}
	// Same prefix, other id: a Conflict naming the holder; same id too.
	b := exec.ContainerSpec{ID: "0123456789abcdef-b"}
	if _, err := d.Create(b, rec{Spec: b}); !errdefs.IsConflict(err) {
		t.Errorf("Create with a shared prefix: %v, want Conflict", err)
	}
	if _, err := d.Create(a, rec{Spec: a}); !errdefs.IsConflict(err) {
		t.Errorf("Create twice: %v, want Conflict", err)
	}
	if _, err := d.Create(exec.ContainerSpec{ID: "../x"}, rec{}); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Create ../x: %v, want InvalidParameter", err)
	}
	got, spec, err := d.Lookup(a.ID)
	if err != nil || got != dir || spec.ID != a.ID {
		t.Errorf("Lookup = %q, %+v, %v", got, spec, err)
	}
	var r rec
	if err := ReadRecord(dir, &r); err != nil || r.Extra != "x" {
		t.Errorf("ReadRecord = %+v, %v", r, err)
	}
	for _, id := range []string{b.ID, "nope", "", "..", "a/b"} {
		if _, _, err := d.Lookup(id); !errdefs.IsNotFound(err) {
			t.Errorf("Lookup(%q) = %v, want NotFound", id, err)
		}
	}
	// A directory without a record (a Create that died) is skipped.
	os.Mkdir(filepath.Join(d.Root, "half"), 0o700)
	var seen []string
	sts, err := d.Restore(context.Background(), func(dir, id string) (exec.State, error) {
		seen = append(seen, id)
		return exec.State{ID: id}, nil
	})
	if err != nil || len(sts) != 1 || len(seen) != 1 || seen[0] != a.ID {
		t.Errorf("Restore = %+v, %v (saw %v)", sts, err, seen)
	}
	if !ProcessAlive(os.Getpid()) || ProcessAlive(0) {
		t.Error("ProcessAlive is wrong about this process or pid 0")
	}
}

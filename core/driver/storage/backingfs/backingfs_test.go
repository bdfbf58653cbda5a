package backingfs

import (
	"path/filepath"
	"testing"
)

func TestName(t *testing.T) {
	for magic, want := range map[int64]string{0x0000EF53: "extfs", 0x01021994: "tmpfs", 0x794c7630: "overlayfs", 0x3153464a: "jfs", 1: "<unknown>"} {
		if got := Name(magic); got != want {
			t.Errorf("Name(%#x) = %q, want %q", magic, got, want)
		}
	}
}

func TestOf(t *testing.T) {
	if name, err := Of(filepath.Join(t.TempDir(), "home")); err != nil || name == "" {
		t.Errorf("Of = %q, %v", name, err)
	}
	if _, err := Of("/nonexistent/dir/home"); err == nil {
		t.Error("Of of a missing parent: no error")
	}
}

package require

import "testing"

func TestRequired(t *testing.T) {
	t.Setenv(Env, "root, overlay,busybox")
	for _, r := range []string{"root", "overlay", "busybox"} {
		if !Required(r) {
			t.Errorf("Required(%q) = false", r)
		}
	}
	if Required("over") || Required("") {
		t.Error("partial or empty names matched")
	}
}

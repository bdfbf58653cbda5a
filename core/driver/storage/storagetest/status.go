package storagetest

import "strings"

func statusChecks() []check {
	return []check{
		{"BackingFilesystem", checkStatus},
		{"Info", checkInfo},
	}
}

func checkStatus(h *harness) {
	t := h.t
	pairs, err := h.d.Status(h.ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	found := false
	for _, p := range pairs {
		if p.Key == "" {
			t.Errorf("Status has a pair with an empty key: %v", pairs)
		}
		if p.Key == "Backing Filesystem" {
			found = true
			if p.Value == "" {
				t.Error(`Status has "Backing Filesystem" with an empty value`)
			}
		}
	}
	if !found {
		t.Errorf(`Status = %v, want a "Backing Filesystem" pair`, pairs)
	}
}

func checkInfo(h *harness) {
	t := h.t
	name := h.info.Name
	// The name is also the home directory's name under the daemon root.
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		t.Errorf("Info().Name = %q, want a name usable as a directory name", name)
	}
	again, err := h.d.Info(h.ctx)
	if err != nil {
		t.Fatalf("second Info: %v", err)
	}
	if again != h.info {
		t.Errorf("Info changed between calls: %+v then %+v", h.info, again)
	}
}

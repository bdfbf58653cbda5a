package types

import (
	"encoding/json"
	"testing"
)

// Docker 0.8+ sent GitCommit even when empty; 0.4–0.7 omitted it.
func TestVersionEmptyCommit(t *testing.T) {
	ver := &Version{Version: "1.7.1", GoVersion: "go1"}
	for v, want := range map[string]bool{"1.5": false, "1.9": true, "1.18": true, "1.19": true} {
		b, _ := json.Marshal(VersionForVersion(v, ver, nil))
		var m map[string]any
		json.Unmarshal(b, &m)
		if _, ok := m["GitCommit"]; ok != want {
			t.Errorf("%s: GitCommit present = %v, want %v (%s)", v, ok, want, b)
		}
	}
}

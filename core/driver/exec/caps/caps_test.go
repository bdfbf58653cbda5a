package caps

import (
	"slices"
	"testing"

	"github.com/pluggd/pluggd/core/errdefs"
)

func TestParse(t *testing.T) {
	names, all, err := Parse([]string{"cap_net_admin", "Sys_Time", "ALL"}, "to add")
	if err != nil || !all || !slices.Equal(names, []string{"NET_ADMIN", "SYS_TIME"}) {
		t.Fatalf("Parse = %v %v %v", names, all, err)
	}
	if _, _, err := Parse([]string{"NOPE"}, "to drop"); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("unknown name: %v", err)
	}
}

func TestTweakFollowsDocker17(t *testing.T) {
	got := Tweak(Defaults(), []string{"NET_ADMIN", "CHOWN"}, []string{"CHOWN", "KILL"}, false)
	if slices.Contains(got, "KILL") || !slices.Contains(got, "CHOWN") || !slices.Contains(got, "NET_ADMIN") || len(got) != 14 {
		t.Fatalf("Tweak = %v", got)
	}
	if got := Tweak(Defaults(), []string{"SYS_TIME"}, nil, true); !slices.Equal(got, []string{"SYS_TIME"}) {
		t.Fatalf("drop all, add one = %v", got)
	}
}

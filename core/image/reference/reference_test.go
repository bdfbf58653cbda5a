package reference

import (
	"testing"

	"github.com/pluggd/pluggd/core/errdefs"
)

func TestParseNormalises(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"busybox", "library/busybox", "docker.io/library/busybox", "busybox:latest", "index.docker.io/library/busybox"} {
		r, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if r.Name != "docker.io/library/busybox" || r.Tag != "latest" {
			t.Errorf("Parse(%q) = %+v", in, r)
		}
		if r.String() != "busybox:latest" {
			t.Errorf("Parse(%q).String() = %q", in, r.String())
		}
	}
	r, err := Parse("localhost:5000/test/busybox:1.2")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "localhost:5000/test/busybox" || r.Tag != "1.2" || r.String() != "localhost:5000/test/busybox:1.2" {
		t.Errorf("registry name: %+v %q", r, r.String())
	}
	r, err = Parse("me/app")
	if err != nil || r.String() != "me/app:latest" {
		t.Errorf("me/app: %+v %v", r, err)
	}
}

func TestParseWithTagExplicitWins(t *testing.T) {
	t.Parallel()
	r, err := ParseWithTag("busybox:1", "2")
	if err != nil || r.Tag != "2" {
		t.Fatalf("got %+v %v", r, err)
	}
	r, err = ParseWithTag("busybox:1", "")
	if err != nil || r.Tag != "1" {
		t.Fatalf("got %+v %v", r, err)
	}
}

func TestParseRefusesBadNames(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "Busybox", "bad name", "busybox@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123", "a:-x", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		if _, err := Parse(in); !errdefs.IsInvalidParameter(err) {
			t.Errorf("Parse(%q) = %v, want InvalidParameter", in, err)
		}
	}
	if _, err := ParseWithTag("busybox", ".x"); !errdefs.IsInvalidParameter(err) {
		t.Errorf("bad tag accepted: %v", err)
	}
}

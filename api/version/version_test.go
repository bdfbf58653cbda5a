package version

import (
	"context"
	"testing"
)

func TestCompareIsNumeric(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.10", "1.9", 1}, {"1.9", "1.10", -1}, {"1.19", "1.19", 0},
		{"1.1", "1.10", -1}, {"1", "1.0", 0}, {"2.0", "1.19", 1},
	}
	for _, c := range cases {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "1.", "a.b", "1..2", "1.2x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if v, err := Parse("1.19"); err != nil || v != "1.19" {
		t.Fatalf("Parse(1.19) = %q, %v", v, err)
	}
}

func TestContext(t *testing.T) {
	if From(context.Background()) != Current {
		t.Fatal("default is not Current")
	}
	if From(With(context.Background(), "1.12")) != "1.12" {
		t.Fatal("version lost")
	}
}

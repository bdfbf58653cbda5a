package devmapper

import "testing"

func TestHumanSizeLikeDocker17(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0 B", 512: "512 B", 65536: "65.54 kB", 107374182400: "107.4 GB", 2147483648: "2.147 GB",
	} {
		if got := humanSize(in); got != want {
			t.Errorf("humanSize(%v) = %q, want %q", in, got, want)
		}
	}
}

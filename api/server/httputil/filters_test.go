package httputil

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/pluggd/pluggd/core/errdefs"
)

func TestFilters(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		``:                          "map[]",
		`{"event":["die","start"]}`: "map[event:[die start]]",
		`{"event":{"start":true,"die":true,"x":false}}`: "map[event:[die start]]",
	} {
		c, _ := ctx("GET", "/?filters="+url.QueryEscape(raw), "", "1.19")
		got, err := Filters(c)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("%s: %v %v, want %s", raw, got, err, want)
		}
	}
	for _, raw := range []string{`{`, `[1]`, `{"event":"die"}`} {
		c, _ := ctx("GET", "/?filters="+url.QueryEscape(raw), "", "1.19")
		if _, err := Filters(c); !errdefs.IsInvalidParameter(err) {
			t.Errorf("%s: err = %v, want InvalidParameter", raw, err)
		}
	}
}

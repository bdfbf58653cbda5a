package httputil

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Filters decodes the query parameter `filters`: the map[string][]string
// that API ≤ 1.21 clients send ({"event":["die"]}), or the
// map[string]map[string]bool of later clients, which the current docker CLI
// also sends when it has not negotiated down ({"event":{"die":true}}). An
// absent or empty value is no filter; anything else that is not one of the
// two is an InvalidParameter error (400).
func Filters(c echo.Context) (map[string][]string, error) {
	s := strings.TrimSpace(c.QueryParam("filters"))
	if s == "" {
		return nil, nil
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(s), &lists); err == nil {
		return lists, nil
	}
	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &sets); err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("invalid filters %q: %w", s, err))
	}
	lists = map[string][]string{}
	for k, set := range sets {
		for v, on := range set {
			if on {
				lists[k] = append(lists[k], v)
			}
		}
		// Sorted: a map's order would make answers differ between runs.
		sort.Strings(lists[k])
	}
	return lists, nil
}

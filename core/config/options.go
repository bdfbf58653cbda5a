package config

import (
	"fmt"
	"sort"
	"strings"
)

// Options are driver options as "key=value" strings, in the order given.
type Options []string

// UnmarshalTOML accepts `options = ["k=v", ...]` (the form of
// --storage-opt) and `[storage.options]` tables (k = v, any scalar value).
// decode restores a table's file order afterwards.
func (o *Options) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case []any:
		out := make(Options, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("options: want \"key=value\" strings, got %T", e)
			}
			out = append(out, s)
		}
		*o = out
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(Options, 0, len(v))
		for _, k := range keys {
			switch e := v[k].(type) {
			case string, bool, int64, float64:
				out = append(out, fmt.Sprintf("%s=%v", k, e))
			default:
				return fmt.Errorf("options: %s: want a string, number or boolean, got %T", k, e)
			}
		}
		*o = out
	default:
		return fmt.Errorf("options: want an array of \"key=value\" strings or a table, got %T", v)
	}
	return nil
}

func checkOptions(opts Options) error {
	for _, o := range opts {
		if k, _, ok := strings.Cut(o, "="); !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("option %q is not key=value", o)
		}
	}
	return nil
}

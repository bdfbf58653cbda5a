// Package version knows the Docker Remote API versions pluggd serves and
// carries the version a request asked for.
//
// Requests come with or without a /vX.Y prefix; a request without one is
// served as the newest version (as Docker did). Handlers read the version
// with From and shape their answers with the comparison helpers; nothing in
// this package depends on echo.
package version

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// The versions served.
const (
	Current = "1.19"
	Min     = "1.0"
)

// Compare compares two dotted versions numerically, part by part ("1.10" is
// newer than "1.9"): -1 if a < b, 0 if equal, 1 if a > b. Missing parts count
// as zero; non-numeric parts compare as zero.
func Compare(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// LessThan reports a < b.
func LessThan(a, b string) bool { return Compare(a, b) < 0 }

// GreaterThanOrEqualTo reports a >= b.
func GreaterThanOrEqualTo(a, b string) bool { return Compare(a, b) >= 0 }

// Parse checks that s looks like a version ("1.19": digits and dots) and
// returns it unchanged.
func Parse(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty API version")
	}
	for _, p := range strings.Split(s, ".") {
		if p == "" {
			return "", fmt.Errorf("malformed API version %q", s)
		}
		for _, r := range p {
			if r < '0' || r > '9' {
				return "", fmt.Errorf("malformed API version %q", s)
			}
		}
	}
	return s, nil
}

type ctxKey struct{}

// With returns a context carrying the requested API version.
func With(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// From returns the API version carried by ctx, or Current when none is.
func From(ctx context.Context) string {
	if v, ok := ctx.Value(ctxKey{}).(string); ok && v != "" {
		return v
	}
	return Current
}

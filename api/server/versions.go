package server

import (
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/errdefs"
)

// checkVersion strips an optional /vX.Y prefix, refuses versions outside
// [version.Min, version.Current], and records the version in the request
// context. Docker registered every route twice, with and without the
// prefix; a request without one is served as the newest version
// (VERSIONS.md §1).
func checkVersion(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		v := version.Current
		if raw, rest, ok := splitVersion(req.URL.Path); ok {
			var err error
			if v, err = version.Parse(raw); err != nil {
				return errdefs.InvalidParameter(err)
			}
			if version.Compare(v, version.Current) > 0 {
				// Docker 1.7.1's text and status (VERSIONS.md §1).
				return errdefs.InvalidParameter(fmt.Errorf("client is newer than server (client API version: %s, server API version: %s)", v, version.Current))
			}
			if version.LessThan(v, version.Min) {
				return errdefs.InvalidParameter(fmt.Errorf("client is too old, minimum supported API version is %s, please upgrade your client to a newer version", version.Min))
			}
			// Echo routes on the request's URL, which the shallow copy
			// below shares: rewrite it in place.
			req.URL.Path = rest
			if req.URL.RawPath != "" {
				if _, rawRest, ok := splitVersion(req.URL.RawPath); ok {
					req.URL.RawPath = rawRest
				}
			}
		}
		c.SetRequest(req.WithContext(version.With(req.Context(), v)))
		return next(c)
	}
}

// splitVersion recognises a first path segment "v<digit>...": "/v1.19/info"
// gives ("1.19", "/info"). "/version" is not a prefix (no digit after v);
// "/v1.x/info" is, and fails version.Parse.
func splitVersion(path string) (v, rest string, ok bool) {
	if len(path) < 3 || path[0] != '/' || path[1] != 'v' || path[2] < '0' || path[2] > '9' {
		return "", "", false
	}
	seg, rest, found := strings.Cut(path[2:], "/")
	if !found {
		return seg, "/", true
	}
	return seg, "/" + rest, true
}

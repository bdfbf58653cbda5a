package system

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/server/httputil"
	"github.com/pluggd/pluggd/api/types"
	"github.com/pluggd/pluggd/api/version"
)

type router struct{ b Backend }

// ping answers "OK" as text/plain (v1.11+, served to every version: it
// costs nothing and old clients never call it).
func (r *router) ping(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	c.Response().Header().Set("Pragma", "no-cache")
	if c.Request().Method == http.MethodHead {
		c.Response().Header().Set(echo.HeaderContentType, "text/plain; charset=utf-8")
		c.Response().Header().Set(echo.HeaderContentLength, "2")
		return c.NoContent(http.StatusOK)
	}
	return c.String(http.StatusOK, "OK")
}

func (r *router) version(c echo.Context) error {
	ctx := c.Request().Context()
	v := version.From(ctx)
	ver, err := r.b.SystemVersion(ctx)
	if err != nil {
		return err
	}
	var info *types.Info
	if version.LessThan(v, "1.1") {
		// v1.0 reported the memory and swap limits in /version.
		if info, err = r.b.SystemInfo(ctx); err != nil {
			return err
		}
	}
	return httputil.WriteJSON(c, http.StatusOK, types.VersionForVersion(v, ver, info))
}

func (r *router) info(c echo.Context) error {
	ctx := c.Request().Context()
	v := version.From(ctx)
	info, err := r.b.SystemInfo(ctx)
	if err != nil {
		return err
	}
	var ver *types.Version
	if version.LessThan(v, "1.1") {
		// v1.0's /info carried the daemon and Go versions.
		if ver, err = r.b.SystemVersion(ctx); err != nil {
			return err
		}
	}
	return httputil.WriteJSON(c, http.StatusOK, types.InfoForVersion(v, info, ver))
}

package system

import "github.com/labstack/echo/v4"

// Register adds the system routes to g. HEAD /_ping is what current docker
// CLIs send first to learn the API version from the headers.
func Register(g *echo.Group, b Backend) {
	r := &router{b: b}
	g.GET("/_ping", r.ping)
	g.HEAD("/_ping", r.ping)
	g.GET("/version", r.version)
	g.GET("/info", r.info)
}

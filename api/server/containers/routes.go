package containers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Register adds the container routes to g. Container ids and names hold
// no "/", so plain path parameters do; the static /containers/json and
// /containers/ps take precedence over /containers/:id in echo's router.
func Register(g *echo.Group, b Backend) {
	r := &router{b: b}
	g.POST("/containers/create", r.create)
	g.GET("/containers/json", r.list)
	// Undocumented alias Docker 1.7.1 still served (VERSIONS.md §1).
	g.GET("/containers/ps", r.list)
	g.GET("/containers/:id/json", r.inspect)
	g.GET("/containers/:id/logs", r.logs)
	g.POST("/containers/:id/start", r.start)
	g.POST("/containers/:id/stop", r.stop)
	g.POST("/containers/:id/restart", r.restart)
	g.POST("/containers/:id/kill", r.kill)
	g.POST("/containers/:id/wait", r.wait)
	// Container resize answers 200 as Docker 1.7 did; exec resize 201,
	// as documented (Docker 1.7 answered 200 there too).
	g.POST("/containers/:id/resize", resizeWith(http.StatusOK, b.Resize))
	g.POST("/containers/:id/pause", r.pause)
	g.POST("/containers/:id/unpause", r.unpause)
	g.GET("/containers/:id/stats", r.stats)
	g.POST("/containers/:id/attach", r.attach)
	g.DELETE("/containers/:id", r.remove)
	g.POST("/containers/:id/exec", r.execCreate)
	g.POST("/exec/:id/start", r.execStart)
	g.POST("/exec/:id/resize", resizeWith(http.StatusCreated, b.ExecResize))
	g.GET("/exec/:id/json", r.execInspect)
}

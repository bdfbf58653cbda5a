package events

import "github.com/labstack/echo/v4"

// Register adds GET /events to g.
func Register(g *echo.Group, b Backend) {
	r := &router{b: b}
	g.GET("/events", r.events)
}

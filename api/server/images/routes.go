package images

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// Register adds the image routes to g.
//
// Image names contain slashes ("library/busybox", "localhost:5000/a/b"),
// which echo's :name parameter cannot match, so the per-image routes match
// /images/* and split the action off the end themselves, as Docker's mux
// did with {name:.*}. Static routes (/images/create, /images/json, and
// others such as /images/search registered elsewhere) take precedence over
// the wildcard in echo's router.
func Register(g *echo.Group, b Backend) {
	r := &router{b: b}
	g.POST("/images/create", r.create)
	g.GET("/images/json", r.list)
	g.GET("/images/*", r.dispatch(map[string]echo.HandlerFunc{"json": r.inspect, "history": r.history}))
	g.POST("/images/*", r.dispatch(map[string]echo.HandlerFunc{"tag": r.tag}))
	g.DELETE("/images/*", r.remove)
}

// nameKey is where dispatch leaves the image name for the handlers.
const nameKey = "pluggd.image.name"

// dispatch routes /images/<name>/<action> to actions[action]. An unknown
// action or a missing name is echo's 404, the same answer as an unknown
// path.
func (r *router) dispatch(actions map[string]echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		rest, err := wildcard(c)
		if err != nil {
			return err
		}
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			return echo.ErrNotFound
		}
		h, ok := actions[rest[i+1:]]
		if !ok {
			return echo.ErrNotFound
		}
		c.Set(nameKey, rest[:i])
		return h(c)
	}
}

// wildcard returns the unescaped path after /images/.
func wildcard(c echo.Context) (string, error) {
	rest, err := url.PathUnescape(c.Param("*"))
	if err != nil {
		return "", echo.NewHTTPError(http.StatusNotFound)
	}
	return rest, nil
}

func imageName(c echo.Context) string {
	s, _ := c.Get(nameKey).(string)
	return s
}

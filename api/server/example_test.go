package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/server"
	"github.com/pluggd/pluggd/api/version"
)

// A router registers plain paths; the server strips the /vX.Y prefix and
// the handler reads the version the client asked for.
func ExampleServer_Register() {
	s := server.New(server.Options{})
	s.Register(func(g *echo.Group) {
		g.GET("/hello", func(c echo.Context) error {
			return c.String(http.StatusOK, "hello at API "+version.From(c.Request().Context()))
		})
	})
	for _, path := range []string{"/v1.12/hello", "/hello", "/v1.20/hello"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Printf("%d %s\n", rec.Code, rec.Body)
	}
	// Output:
	// 200 hello at API 1.12
	// 200 hello at API 1.19
	// 400 client is newer than server (client API version: 1.20, server API version: 1.19)
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/version"
)

// MaxHeaderBytes bounds request headers; larger ones get 431 from net/http
// before any handler runs.
const MaxHeaderBytes = 1 << 20

// shutdownGrace is how long Serve waits for requests in flight after its
// context ends before closing their connections (streams such as /events
// never finish by themselves).
const shutdownGrace = 10 * time.Second

// Options configure a Server.
type Options struct {
	// Logger receives request logs (debug level) and handler failures.
	// Nil means slog.Default().
	Logger *slog.Logger
	// DockerVersion is the Docker release pluggd answers as in the Server
	// header ("1.7.1").
	DockerVersion string
	// Version is pluggd's own version, appended to the Server header.
	Version string
}

// Server is the API server. Create it with New, let routers Register, then
// Serve.
type Server struct {
	echo   *echo.Echo
	group  *echo.Group
	logger *slog.Logger
}

// New returns a Server with the shared middleware and error handler in
// place and no routes.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{echo: e, logger: logger}
	e.HTTPErrorHandler = s.handleError
	// Order matters: headers first so that even a refused version carries
	// them, then logging so it sees every outcome, then the version.
	e.Pre(headers(serverHeader(opts)), s.logRequests, checkVersion)
	s.group = e.Group("")
	return s
}

// serverHeader keeps Docker's "Docker/<version> (<os>)" form, which old
// clients and tools match on, and names pluggd after it.
func serverHeader(opts Options) string {
	dv := opts.DockerVersion
	if dv == "" {
		dv = "1.7.1"
	}
	h := fmt.Sprintf("Docker/%s (%s)", dv, runtime.GOOS)
	if opts.Version != "" {
		h += " pluggd/" + opts.Version
	}
	return h
}

// Group is the route group routers register on, with plain paths
// ("/images/json"): the version prefix is gone before routing.
func (s *Server) Group() *echo.Group { return s.group }

// Register calls each router's registration function with the group.
func (s *Server) Register(routers ...func(g *echo.Group)) {
	for _, r := range routers {
		r(s.group)
	}
}

// Handler returns the server as an http.Handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers on every listener until ctx ends or a listener fails, then
// stops accepting, gives requests in flight a short grace period, and
// closes the listeners. It returns nil after a shutdown asked through ctx.
func (s *Server) Serve(ctx context.Context, listeners []net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, len(listeners))
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.logger.Info("API listening", "addr", l.Addr().Network()+"://"+l.Addr().String())
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		s.logger.Warn("API shutdown: closing connections still in use", "err", serr)
		srv.Close()
	}
	wg.Wait()
	return err
}

// headers sets the headers every response carries. API-Version and OSType
// are what newer clients read from /_ping to pick a version.
func headers(server string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Server", server)
			h.Set("API-Version", version.Current)
			h.Set("OSType", runtime.GOOS)
			h.Set("Docker-Experimental", "false")
			return next(c)
		}
	}
}

// logRequests logs each request at debug level once it has been answered.
// It runs the error handler itself so the status it logs is the one sent.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		// Keep the path as sent: the version middleware rewrites it.
		path := req.URL.Path
		if err := next(c); err != nil {
			c.Error(err)
		}
		s.logger.LogAttrs(req.Context(), slog.LevelDebug, "API request",
			slog.String("method", req.Method), slog.String("path", path),
			slog.Int("status", c.Response().Status), slog.Duration("took", time.Since(start)),
			slog.String("user-agent", req.UserAgent()))
		return nil
	}
}

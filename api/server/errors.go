package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/core/errdefs"
)

// statusOf maps an error to the HTTP status the API answers with. This is
// the one place errdefs classes become status codes (STYLE.md, Errors).
func statusOf(err error) (int, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) && errdefs.ClassOf(err) == errdefs.Unknown {
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			// Docker's gorilla mux answered an unknown path and a
			// known path with another method alike.
			return http.StatusNotFound, "404 page not found"
		}
		msg, ok := he.Message.(string)
		if !ok || msg == "" {
			msg = http.StatusText(he.Code)
		}
		return he.Code, msg
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, err.Error()
	}
	switch errdefs.ClassOf(err) {
	case errdefs.InvalidParameterClass:
		return http.StatusBadRequest, err.Error()
	case errdefs.NotFoundClass:
		return http.StatusNotFound, err.Error()
	case errdefs.ConflictClass:
		return http.StatusConflict, err.Error()
	case errdefs.NotModifiedClass:
		return http.StatusNotModified, ""
	case errdefs.ForbiddenClass:
		return http.StatusForbidden, err.Error()
	case errdefs.UnauthorizedClass:
		return http.StatusUnauthorized, err.Error()
	}
	// Unavailable, NotImplemented, System, canceled and unclassified
	// errors are server errors: the v1.19 document has no other code for
	// them.
	return http.StatusInternalServerError, err.Error()
}

// handleError is echo's HTTPErrorHandler. Bodies are plain text with a
// trailing newline, as Go's http.Error writes them and as Docker sent them
// (VERSIONS.md §1). A response already begun (a stream) cannot change its
// status: the error is only logged; streams report errors in-band
// (httputil.Stream).
func (s *Server) handleError(err error, c echo.Context) {
	code, msg := statusOf(err)
	req := c.Request()
	level := slog.LevelDebug
	if code >= 500 {
		level = slog.LevelError
	}
	s.logger.Log(req.Context(), level, "API error", "method", req.Method, "path", req.URL.Path, "status", code, "err", err)
	resp := c.Response()
	if resp.Committed {
		return
	}
	h := resp.Header()
	if code == http.StatusNotModified {
		resp.WriteHeader(code)
		return
	}
	h.Set(echo.HeaderContentType, "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	resp.WriteHeader(code)
	if req.Method != http.MethodHead {
		resp.Write([]byte(msg + "\n"))
	}
}

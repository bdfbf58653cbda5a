package httputil

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/core/errdefs"
)

// ErrEmptyBody is returned (as InvalidParameter) by DecodeJSON for a request
// without a body.
var ErrEmptyBody = errors.New("request body is empty")

// DecodeJSON decodes the request's JSON body into v. Malformed JSON is an
// InvalidParameter error, which the API answers with 400 (v1.19 doc: "400 –
// bad parameter"); so is an empty body. Unknown fields are ignored, as
// Docker's decoder did: old and new clients send fields this version lacks.
func DecodeJSON(c echo.Context, v any) error {
	ok, err := DecodeOptionalJSON(c, v)
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.InvalidParameter(ErrEmptyBody)
	}
	return nil
}

// DecodeOptionalJSON is DecodeJSON for endpoints whose body may be absent
// (POST /containers/{id}/start before v1.15 clients sent none): it reports
// whether a body was decoded.
func DecodeOptionalJSON(c echo.Context, v any) (bool, error) {
	body := c.Request().Body
	if body == nil {
		return false, nil
	}
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, errdefs.InvalidParameter(fmt.Errorf("invalid JSON in request body: %w", err))
	}
	return true, nil
}

// BoolValue reads a boolean query parameter the way Docker's boolValue did:
// absent, "", "0", "no", "false" and "none" (any case) are false, anything
// else ("1", "true", "True", "yes") is true.
func BoolValue(c echo.Context, name string) bool {
	s := strings.ToLower(strings.TrimSpace(c.QueryParam(name)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// BoolValueOrDefault is BoolValue with a default for an absent or empty
// parameter (commit's pause defaults to true from v1.13).
func BoolValueOrDefault(c echo.Context, name string, def bool) bool {
	if strings.TrimSpace(c.QueryParam(name)) == "" {
		return def
	}
	return BoolValue(c, name)
}

// Int64Value reads an integer query parameter; absent or empty gives def,
// anything that is not an integer is an InvalidParameter error naming the
// parameter.
func Int64Value(c echo.Context, name string, def int64) (int64, error) {
	s := strings.TrimSpace(c.QueryParam(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errdefs.InvalidParameter(fmt.Errorf("invalid value for %s: %q is not an integer", name, s))
	}
	return n, nil
}

// WriteJSON writes v as a JSON response with status code. Docker's writeJSON
// sent Content-Type application/json and a trailing newline.
func WriteJSON(c echo.Context, code int, v any) error {
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, "application/json")
	resp.WriteHeader(code)
	if c.Request().Method == "HEAD" {
		return nil
	}
	return json.NewEncoder(resp).Encode(v)
}

package httputil

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/errdefs"
)

func ctx(method, target, body, apiVersion string) (echo.Context, *httptest.ResponseRecorder) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req = req.WithContext(version.With(req.Context(), apiVersion))
	rec := httptest.NewRecorder()
	return echo.New().NewContext(req, rec), rec
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	var v struct{ Image string }
	c, _ := ctx("POST", "/", `{"Image":"busybox","Unknown":1}`, "1.19")
	if err := DecodeJSON(c, &v); err != nil || v.Image != "busybox" {
		t.Fatalf("%v %+v", err, v)
	}
	for _, body := range []string{`{"Image":`, `not json`, ``} {
		c, _ := ctx("POST", "/", body, "1.19")
		if err := DecodeJSON(c, &v); !errdefs.IsInvalidParameter(err) {
			t.Errorf("%q: err = %v, want InvalidParameter", body, err)
		}
	}
	c, _ = ctx("POST", "/", ``, "1.19")
	if ok, err := DecodeOptionalJSON(c, &v); ok || err != nil {
		t.Errorf("empty optional body: %v %v", ok, err)
	}
}

func TestBoolAndIntValues(t *testing.T) {
	t.Parallel()
	c, _ := ctx("GET", "/?a=1&b=True&c=true&d=0&e=false&f=no&g=none&h=&i=yes&n=12&bad=1x", "", "1.19")
	for name, want := range map[string]bool{"a": true, "b": true, "c": true, "d": false, "e": false, "f": false, "g": false, "h": false, "i": true, "absent": false} {
		if got := BoolValue(c, name); got != want {
			t.Errorf("BoolValue(%s) = %v", name, got)
		}
	}
	if !BoolValueOrDefault(c, "absent", true) || BoolValueOrDefault(c, "d", true) {
		t.Error("BoolValueOrDefault")
	}
	if n, err := Int64Value(c, "n", 5); n != 12 || err != nil {
		t.Errorf("Int64Value(n) = %d, %v", n, err)
	}
	if n, err := Int64Value(c, "absent", 5); n != 5 || err != nil {
		t.Errorf("Int64Value(absent) = %d, %v", n, err)
	}
	if _, err := Int64Value(c, "bad", 5); !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "bad") {
		t.Errorf("Int64Value(bad) err = %v", err)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	c, rec := ctx("POST", "/", "", "1.19")
	s := NewStream(c)
	boom := errdefs.NotFound(errors.New("boom"))
	if err := s.Finish(boom); err != boom || s.Started() {
		t.Fatal("an error before the stream started must be returned as is")
	}
	s.Status("abc", "Pulling")
	s.Write(JSONMessage{Status: "Downloading", ProgressDetail: &ProgressDetail{Current: 1, Total: 2}})
	if err := s.Finish(boom); err != nil {
		t.Fatal(err)
	}
	want := `{"status":"Pulling","id":"abc"}` + "\r\n" +
		`{"status":"Downloading","progressDetail":{"current":1,"total":2}}` + "\r\n" +
		`{"errorDetail":{"message":"boom"},"error":"boom"}` + "\r\n"
	if rec.Code != 200 || rec.Body.String() != want || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q\n%q", rec.Code, rec.Header(), rec.Body)
	}

	// Before v1.8 there is no progressDetail nor errorDetail.
	c, rec = ctx("POST", "/", "", "1.7")
	s = NewStream(c)
	s.Write(JSONMessage{Status: "x", ProgressDetail: &ProgressDetail{Current: 1}})
	s.Finish(errors.New("bad"))
	if want := `{"status":"x"}` + "\r\n" + `{"error":"bad"}` + "\r\n"; rec.Body.String() != want {
		t.Fatalf("1.7: %q", rec.Body)
	}

	c, rec = ctx("POST", "/", "", "1.0")
	s = NewTextStream(c)
	s.Status("", "Pulling repository busybox")
	s.Finish(errors.New("bad"))
	if want := "Pulling repository busybox\nError: bad\n"; rec.Body.String() != want || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("text: %q", rec.Body)
	}
}

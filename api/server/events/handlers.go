package events

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/server/httputil"
	"github.com/pluggd/pluggd/api/types"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/events"
)

type router struct{ b Backend }

// events streams the event log until the client goes away or `until`
// passes. Errors are possible only before the stream starts (bad
// parameters, 400); after that a failed write just ends it.
func (r *router) events(c echo.Context) error {
	f, err := filter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// Subscribed before the headers go out: a client that starts a
	// container once it has the headers must get that container's events.
	past, live := r.b.Subscribe(ctx, f)

	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, "application/json")
	resp.WriteHeader(http.StatusOK)
	resp.Flush()
	enc := json.NewEncoder(resp) // one object a line, as Docker 1.7 wrote
	send := func(ev events.Event) error {
		if err := enc.Encode(wire(ev)); err != nil {
			return err
		}
		resp.Flush()
		return nil
	}
	for _, ev := range past {
		if send(ev) != nil {
			return nil
		}
	}
	// live closes when ctx ends (the client went away) or at until.
	for ev := range live {
		if send(ev) != nil {
			return nil
		}
	}
	return nil
}

// filter reads since, until and filters. Filter keys other than event,
// image and container are ignored, as Docker 1.7 did: the current docker
// CLI adds type=container, a key that came with API 1.22.
func filter(c echo.Context) (events.Filter, error) {
	var f events.Filter
	var err error
	if f.Since, err = timestamp(c, "since"); err != nil {
		return f, err
	}
	if f.Until, err = timestamp(c, "until"); err != nil {
		return f, err
	}
	args, err := httputil.Filters(c)
	if err != nil {
		return f, err
	}
	f.Event, f.Image, f.Container = args["event"], args["image"], args["container"]
	return f, nil
}

// timestamp reads a unix time in seconds. Docker 1.7 took an integer;
// current clients turn `--since 10m` into "<seconds>.<nanoseconds>", so a
// fraction is accepted (and dropped: event times are whole seconds). An
// absent value is the zero time, "not set"; "0" is the epoch.
func timestamp(c echo.Context, name string) (time.Time, error) {
	s := strings.TrimSpace(c.QueryParam(name))
	if s == "" {
		return time.Time{}, nil
	}
	secs, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(secs, 10, 64)
	if err == nil && frac != "" {
		_, err = strconv.ParseUint(frac, 10, 64)
	}
	if err != nil {
		return time.Time{}, errdefs.InvalidParameter(fmt.Errorf("invalid value for %s: %q is not a unix timestamp", name, s))
	}
	return time.Unix(n, 0), nil
}

// wire is the v1.19 line for ev.
func wire(ev events.Event) types.Event {
	out := types.Event{Status: ev.Status, ID: ev.ID, From: ev.From, Time: ev.Time}
	if len(ev.Attributes) > 0 {
		out.Actor = &types.EventActor{Attributes: ev.Attributes}
	}
	return out
}

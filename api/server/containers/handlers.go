package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/api/server/httputil"
	"github.com/pluggd/pluggd/api/types"
	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/errdefs"
)

type router struct{ b Backend }

// create is POST /containers/create?name=: 201 {"Id","Warnings"}.
func (r *router) create(c echo.Context) error {
	ctx := c.Request().Context()
	var req types.ContainerCreateRequest
	if err := httputil.DecodeJSON(c, &req); err != nil {
		return err
	}
	cfg := req.Config
	id, warnings, err := r.b.Create(ctx, c.QueryParam("name"), &cfg, req.HostConfigOrLegacy())
	if err != nil {
		return err
	}
	return httputil.WriteJSON(c, http.StatusCreated, &types.ContainerCreateResponse{ID: id, Warnings: warnings})
}

// list is GET /containers/json (and /containers/ps).
func (r *router) list(c echo.Context) error {
	ctx := c.Request().Context()
	limit, err := httputil.Int64Value(c, "limit", -1)
	if err != nil {
		return err
	}
	filters, err := httputil.Filters(c)
	if err != nil {
		return err
	}
	sums, err := r.b.List(ctx, container.ListOptions{
		All:     httputil.BoolValue(c, "all"),
		Limit:   int(limit),
		Since:   c.QueryParam("since"),
		Before:  c.QueryParam("before"),
		Size:    httputil.BoolValue(c, "size"),
		Filters: filters,
	})
	if err != nil {
		return err
	}
	out := make([]types.ContainerSummary, 0, len(sums))
	for _, s := range sums {
		out = append(out, types.ContainerSummary{
			ID:         s.ID,
			Names:      s.Names,
			Image:      s.Image,
			Command:    s.Command,
			Created:    s.Created.Unix(),
			Ports:      []types.Port{}, // no published ports yet
			SizeRw:     s.SizeRw,
			SizeRootFs: s.SizeRootFs,
			Labels:     s.Labels,
			Status:     s.Status,
		})
	}
	return httputil.WriteJSON(c, http.StatusOK, types.ContainersForVersion(version.From(ctx), out))
}

// inspect is GET /containers/{id}/json.
func (r *router) inspect(c echo.Context) error {
	ctx := c.Request().Context()
	rec, err := r.b.Inspect(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	out := &types.ContainerJSON{
		ID:              rec.ID,
		Created:         rec.Created,
		Path:            rec.Path,
		Args:            rec.Args,
		Config:          rec.Config,
		State:           containerState(rec.State),
		Image:           rec.Image,
		NetworkSettings: &types.NetworkSettings{},
		ResolvConfPath:  rec.ResolvConfPath,
		HostnamePath:    rec.HostnamePath,
		HostsPath:       rec.HostsPath,
		LogPath:         rec.LogPath,
		Name:            rec.Name,
		RestartCount:    rec.RestartCount,
		Driver:          rec.Driver,
		ExecDriver:      rec.ExecDriver,
		MountLabel:      rec.MountLabel,
		ProcessLabel:    rec.ProcessLabel,
		Volumes:         rec.Volumes,
		VolumesRW:       rec.VolumesRW,
		AppArmorProfile: rec.AppArmorProfile,
		ExecIDs:         r.b.ExecIDs(ctx, rec.ID),
		HostConfig:      rec.HostConfig,
	}
	if out.Args == nil {
		out.Args = []string{}
	}
	return httputil.WriteJSON(c, http.StatusOK, types.ContainerInspectForVersion(version.From(ctx), out))
}

// containerState is inspect's State of a container record.
func containerState(st container.State) *types.ContainerState {
	return &types.ContainerState{
		Running: st.Running, Paused: st.Paused, Restarting: st.Restarting, OOMKilled: st.OOMKilled, Dead: st.Dead,
		Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
	}
}

// start is POST /containers/{id}/start: 204, 304 when already running. A
// HostConfig body is still accepted (v1.19 doc, "for backwards
// compatibility"); an empty body, null or {} changes nothing.
func (r *router) start(c echo.Context) error {
	var hc *container.HostConfig
	if _, err := httputil.DecodeOptionalJSON(c, &hc); err != nil {
		return err
	}
	if hc != nil && reflect.DeepEqual(*hc, container.HostConfig{}) {
		hc = nil
	}
	if err := r.b.Start(c.Request().Context(), c.Param("id"), hc); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// stopTimeout reads `t` (seconds, default 10).
func stopTimeout(c echo.Context) (time.Duration, error) {
	t, err := httputil.Int64Value(c, "t", 10)
	if err != nil {
		return 0, err
	}
	if t < 0 {
		t = 0
	}
	return time.Duration(t) * time.Second, nil
}

// stop is POST /containers/{id}/stop?t=: 204, 304 when not running.
func (r *router) stop(c echo.Context) error {
	t, err := stopTimeout(c)
	if err != nil {
		return err
	}
	if err := r.b.Stop(c.Request().Context(), c.Param("id"), t); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// restart is POST /containers/{id}/restart?t=: stop (a stopped container
// is fine), then start.
func (r *router) restart(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := stopTimeout(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if err := r.b.Stop(ctx, id, t); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	if err := r.b.Start(ctx, id, nil); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// kill is POST /containers/{id}/kill?signal=: a name with or without
// "SIG", or a number; SIGKILL by default.
func (r *router) kill(c echo.Context) error {
	sig, err := parseSignal(c.QueryParam("signal"))
	if err != nil {
		return err
	}
	if err := r.b.Kill(c.Request().Context(), c.Param("id"), sig); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// parseSignal reads kill's `signal` as Docker 1.7 did: a number, or a
// name with or without "SIG", in any case.
func parseSignal(s string) (syscall.Signal, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return syscall.SIGKILL, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.InvalidParameter(fmt.Errorf("Invalid signal: %s", s))
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errdefs.InvalidParameter(fmt.Errorf("Invalid signal: %s", s))
}

// wait is POST /containers/{id}/wait: {"StatusCode":N} once not running.
func (r *router) wait(c echo.Context) error {
	code, err := r.b.Wait(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(c, http.StatusOK, &types.ContainerWaitResponse{StatusCode: code})
}

// resizeWith is a resize endpoint (POST /containers/{id}/resize and
// /exec/{id}/resize): h and w from the query (0 when absent), an empty
// answer with status.
func resizeWith(status int, resize func(ctx context.Context, id string, height, width int) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		h, err := httputil.Int64Value(c, "h", 0)
		if err != nil {
			return err
		}
		w, err := httputil.Int64Value(c, "w", 0)
		if err != nil {
			return err
		}
		if err := resize(c.Request().Context(), c.Param("id"), int(h), int(w)); err != nil {
			return err
		}
		return c.NoContent(status)
	}
}

// pause is POST /containers/{id}/pause: 204.
func (r *router) pause(c echo.Context) error {
	if err := r.b.Pause(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// unpause is POST /containers/{id}/unpause: 204.
func (r *router) unpause(c echo.Context) error {
	if err := r.b.Unpause(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// stats is GET /containers/{id}/stats?stream=: about one JSON object a
// second until the container stops or the client goes (stream, the
// default), or one object (stream=0); each carries the previous sample's
// CPU figures as precpu_stats. An error before the first object gets its
// status code; afterwards the stream just ends.
func (r *router) stats(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	stream := httputil.BoolValueOrDefault(c, "stream", true)
	sample, err := r.b.Stats(ctx, id)
	if err != nil {
		return err
	}
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	resp.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(resp)
	var pre types.CPUStats
	for {
		out := &types.StatsJSON{
			Read:        sample.Read,
			PreCPUStats: pre,
			CPUStats: types.CPUStats{
				CPUUsage:    types.CPUUsage{TotalUsage: sample.CPUTotal},
				SystemUsage: sample.SystemCPU,
			},
			MemoryStats: types.MemoryStats{Usage: sample.MemoryUsage, Limit: sample.MemoryLimit},
		}
		if err := enc.Encode(out); err != nil {
			return nil // the client went away
		}
		resp.Flush()
		if !stream {
			return nil
		}
		pre = out.CPUStats
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if sample, err = r.b.Stats(ctx, id); err != nil {
			return nil // stopped, removed, or the driver failed: the stream ends
		}
	}
}

// remove is DELETE /containers/{id}?force=&v=: 204.
func (r *router) remove(c echo.Context) error {
	id := c.Param("id")
	if id == "" {
		return errdefs.InvalidParameter(errors.New("container name or id is required"))
	}
	announce, err := r.b.Remove(c.Request().Context(), id, httputil.BoolValue(c, "force"), httputil.BoolValue(c, "v"))
	if err != nil {
		return err
	}
	err = c.NoContent(http.StatusNoContent)
	c.Response().Flush()
	// The destroy event follows the answer by a moment. docker run --rm
	// at API < 1.25 removes the container itself and cancels that DELETE
	// as soon as it reads destroy on /events; a CLI that reads the event
	// before its DELETE's answer (both arrive together) logs "error
	// removing container: context canceled" for a removal that worked.
	// Events are asynchronous, so a short delay costs nobody anything.
	time.AfterFunc(destroyEventDelay, announce)
	return err
}

// destroyEventDelay is how long the destroy event waits after DELETE's
// answer was flushed (see remove).
const destroyEventDelay = 50 * time.Millisecond

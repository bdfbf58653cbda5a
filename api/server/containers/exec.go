package containers

import (
	"net"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/server/httputil"
	"github.com/pluggd/pluggd/api/types"
	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/daemon/execconfig"
)

// The exec routes came with v1.15 (/exec/{id}/json with v1.16); like the
// other endpoints, they are served at every version, as Docker 1.7 served
// them.

// execCreate is POST /containers/{id}/exec: 201 {"Id"}.
func (r *router) execCreate(c echo.Context) error {
	var req types.ExecCreateRequest
	if err := httputil.DecodeJSON(c, &req); err != nil {
		return err
	}
	id, err := r.b.ExecCreate(c.Request().Context(), c.Param("id"), execconfig.Config{
		AttachStdin:  req.AttachStdin,
		AttachStdout: req.AttachStdout,
		AttachStderr: req.AttachStderr,
		Tty:          req.Tty,
		Cmd:          req.Cmd,
		User:         req.User,
		Privileged:   req.Privileged,
	})
	if err != nil {
		return err
	}
	return httputil.WriteJSON(c, http.StatusCreated, &types.ExecCreateResponse{ID: id})
}

// execStart is POST /exec/{id}/start: 204 with Detach; otherwise the
// connection is hijacked as attach's is, once the exec is found, and
// carries the process's streams until its output ends.
func (r *router) execStart(c echo.Context) error {
	var req types.ExecStartRequest
	if _, err := httputil.DecodeOptionalJSON(c, &req); err != nil {
		return err
	}
	opts := execconfig.StartOptions{Detach: req.Detach}
	var (
		conn    net.Conn
		streams container.Streams
	)
	opts.Streams = func() (container.Streams, error) {
		var err error
		conn, streams, err = hijack(c, req.Tty)
		return streams, err
	}
	err := r.b.ExecStart(c.Request().Context(), c.Param("id"), opts)
	if conn == nil {
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
	// Once hijacked, an error (a program that cannot run) goes to the
	// client's stderr, in the stream's framing.
	errOut := streams.Stderr
	if errOut == nil {
		errOut = conn
	}
	endHijacked(conn, errOut, err)
	return nil
}

// execInspect is GET /exec/{id}/json: Docker 1.7's raw exec record.
func (r *router) execInspect(c echo.Context) error {
	x, err := r.b.ExecInspect(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	rec := x.Container
	args := x.Arguments
	if args == nil {
		args = []string{}
	}
	cargs := rec.Args
	if cargs == nil {
		cargs = []string{}
	}
	volumes, volumesRW := rec.Volumes, rec.VolumesRW
	if volumes == nil {
		volumes = map[string]string{}
	}
	if volumesRW == nil {
		volumesRW = map[string]bool{}
	}
	return httputil.WriteJSON(c, http.StatusOK, &types.ExecInspect{
		ID:       x.ID,
		Running:  x.Running,
		ExitCode: x.ExitCode,
		ProcessConfig: types.ExecProcessConfig{
			Privileged: x.Privileged, User: x.User, Tty: x.Tty, Entrypoint: x.Entrypoint, Arguments: args,
		},
		OpenStdin:  x.OpenStdin,
		OpenStderr: x.OpenStderr,
		OpenStdout: x.OpenStdout,
		Container: &types.ContainerRaw{
			State:           containerState(rec.State),
			ID:              rec.ID,
			Created:         rec.Created,
			Path:            rec.Path,
			Args:            cargs,
			Config:          rec.Config,
			Image:           rec.Image,
			NetworkSettings: &types.NetworkSettings{},
			ResolvConfPath:  rec.ResolvConfPath,
			HostnamePath:    rec.HostnamePath,
			HostsPath:       rec.HostsPath,
			LogPath:         rec.LogPath,
			Name:            rec.Name,
			Driver:          rec.Driver,
			ExecDriver:      rec.ExecDriver,
			MountLabel:      rec.MountLabel,
			ProcessLabel:    rec.ProcessLabel,
			RestartCount:    rec.RestartCount,
			MountPoints:     map[string]any{}, // pluggd makes no volumes yet
			Volumes:         volumes,
			VolumesRW:       volumesRW,
			AppArmorProfile: rec.AppArmorProfile,
		},
	})
}

package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	units "github.com/docker/go-units"
	"github.com/labstack/echo/v4"

	"github.com/pluggd/pluggd/api/server/httputil"
	"github.com/pluggd/pluggd/api/types"
	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/image"
)

type router struct{ b Backend }

// create is POST /images/create. Only import (fromSrc) is implemented;
// pull (fromImage) is answered with a plain 500, not faked.
func (r *router) create(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	if from := q.Get("fromImage"); from != "" {
		return errdefs.NotImplemented(fmt.Errorf("pulling images is not supported yet (fromImage=%s); import a tarball with fromSrc instead", from))
	}
	src := q.Get("fromSrc")
	if src == "" {
		return errdefs.InvalidParameter(errors.New("fromImage or fromSrc is required"))
	}
	// v1.0 streamed plain text (VERSIONS.md §1, "= 1.0").
	var stream *httputil.Stream
	if version.LessThan(version.From(ctx), "1.1") {
		stream = httputil.NewTextStream(c)
	} else {
		stream = httputil.NewStream(c)
	}
	var writeErr error
	progress := func(p image.Progress) {
		m := httputil.JSONMessage{Status: p.Status}
		if p.Current > 0 || p.Total > 0 {
			m.ProgressDetail = &httputil.ProgressDetail{Current: p.Current, Total: p.Total}
			m.Progress = progressBar(p.Current, p.Total)
		}
		if err := stream.Write(m); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	// The stream starts with the first message: for a body import that is
	// the final id, so any failure before it still gets its status code
	// (400 for a bad tar, and so on).
	id, err := r.b.Import(ctx, image.ImportOptions{
		Src:      src,
		Body:     c.Request().Body,
		Repo:     q.Get("repo"),
		Tag:      q.Get("tag"),
		Message:  q.Get("message"),
		Changes:  q["changes"],
		Progress: progress,
	})
	if err == nil {
		err = stream.Status("", id)
	}
	return stream.Finish(err)
}

// progressBar is Docker's JSONProgress.String for a wide terminal:
// "[=====>     ] 1.2 MB/3.4 MB".
func progressBar(current, total int64) string {
	cur := units.HumanSize(float64(current))
	if total <= 0 {
		return fmt.Sprintf("%8v", cur)
	}
	pct := min(int(float64(current)/float64(total)*100)/2, 50)
	bar := fmt.Sprintf("[%s>%s] ", strings.Repeat("=", pct), strings.Repeat(" ", 50-pct))
	if current > total {
		return bar
	}
	return bar + fmt.Sprintf("%8v/%v", cur, units.HumanSize(float64(total)))
}

// list is GET /images/json.
func (r *router) list(c echo.Context) error {
	ctx := c.Request().Context()
	filters, err := httputil.Filters(c)
	if err != nil {
		return err
	}
	sums, err := r.b.List(ctx, image.ListOptions{
		All:     httputil.BoolValue(c, "all"),
		Filters: filters,
		Filter:  c.QueryParam("filter"),
	})
	if err != nil {
		return err
	}
	out := make([]types.ImageSummary, 0, len(sums))
	for _, s := range sums {
		e := types.ImageSummary{
			ID:          s.ID,
			ParentId:    s.ParentID,
			RepoTags:    s.RepoTags,
			RepoDigests: []string{},
			Created:     s.Created.Unix(),
			Size:        s.Size,
			VirtualSize: s.VirtualSize,
			Labels:      s.Labels,
		}
		if len(e.RepoTags) == 0 {
			// Docker 1.7 graph/list.go's names for an untagged image.
			e.RepoTags, e.RepoDigests = []string{types.NoneTag}, []string{types.NoneDigest}
		}
		out = append(out, e)
	}
	return httputil.WriteJSON(c, http.StatusOK, types.ImagesForVersion(version.From(ctx), out))
}

// inspect is GET /images/{name}/json.
func (r *router) inspect(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := r.b.Inspect(ctx, imageName(c))
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(d.Config)
	if err != nil {
		return err
	}
	ccfg, err := json.Marshal(d.ContainerConfig)
	if err != nil {
		return err
	}
	out := &types.ImageInspect{
		Id:              d.ID,
		Parent:          d.Parent,
		Comment:         d.Comment,
		Created:         d.Created,
		Container:       d.Container,
		ContainerConfig: ccfg,
		DockerVersion:   d.DockerVersion,
		Author:          d.Author,
		Config:          cfg,
		Architecture:    d.Architecture,
		Os:              d.OS,
		Size:            d.Size,
		VirtualSize:     d.VirtualSize,
	}
	return httputil.WriteJSON(c, http.StatusOK, types.ImageInspectForVersion(version.From(ctx), out, d.Raw))
}

// history is GET /images/{name}/history.
func (r *router) history(c echo.Context) error {
	ctx := c.Request().Context()
	h, err := r.b.History(ctx, imageName(c))
	if err != nil {
		return err
	}
	out := make([]types.ImageHistory, 0, len(h))
	for _, e := range h {
		out = append(out, types.ImageHistory{
			ID: e.ID, Created: e.Created.Unix(), CreatedBy: e.CreatedBy,
			Tags: e.Tags, Size: e.Size, Comment: e.Comment,
		})
	}
	return httputil.WriteJSON(c, http.StatusOK, types.ImageHistoryForVersion(version.From(ctx), out))
}

// tag is POST /images/{name}/tag: 201 and no body (v1.19 doc; VERSIONS.md
// v1.0: 201 even where the old docs said 200).
func (r *router) tag(c echo.Context) error {
	err := r.b.Tag(c.Request().Context(), imageName(c), c.QueryParam("repo"), c.QueryParam("tag"), httputil.BoolValue(c, "force"))
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusCreated)
}

// remove is DELETE /images/{name}: 200 with the rows from v1.2, 204 and no
// body up to v1.1 (VERSIONS.md §1, "≤ 1.1").
func (r *router) remove(c echo.Context) error {
	ctx := c.Request().Context()
	name, err := wildcard(c)
	if err != nil {
		return err
	}
	if name == "" {
		return echo.ErrNotFound
	}
	rows, err := r.b.Delete(ctx, name, httputil.BoolValue(c, "force"), httputil.BoolValue(c, "noprune"))
	if err != nil {
		return err
	}
	if version.LessThan(version.From(ctx), "1.2") {
		return c.NoContent(http.StatusNoContent)
	}
	out := make([]types.ImageDelete, 0, len(rows))
	for _, row := range rows {
		out = append(out, types.ImageDelete{Untagged: row.Untagged, Deleted: row.Deleted})
	}
	return httputil.WriteJSON(c, http.StatusOK, out)
}

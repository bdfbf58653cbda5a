package daemon

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Inspect returns a copy of a container's record (GET
// /containers/{id}/json).
func (s *Containers) Inspect(ctx context.Context, ref string) (*container.Record, error) {
	c, _, err := s.get(ref)
	if err != nil {
		return nil, err
	}
	c.Lock()
	r := c.Snapshot()
	c.Unlock()
	return &r, nil
}

// List answers GET /containers/json, following Docker 1.7's
// daemon.Containers: newest first; without all, limit, since or before
// only running containers; before skips up to and including its
// container, since stops there, limit caps the count.
func (s *Containers) List(ctx context.Context, opts container.ListOptions) ([]container.Summary, error) {
	var sinceID, beforeID string
	for _, p := range []struct {
		ref string
		id  *string
	}{{opts.Since, &sinceID}, {opts.Before, &beforeID}} {
		if p.ref == "" {
			continue
		}
		c, err := s.store.Get(p.ref)
		if err != nil {
			return nil, err
		}
		*p.id = c.ID
	}
	match, err := newListFilter(opts.Filters)
	if err != nil {
		return nil, err
	}
	all := opts.All || opts.Limit > 0 || sinceID != "" || beforeID != "" || match.needsAll
	foundBefore := beforeID == ""
	var out []container.Summary
	for _, c := range s.store.List() {
		c.Lock()
		r := c.Snapshot()
		c.Unlock()
		if !r.State.Running && !all {
			continue
		}
		if !match.nameAndID(&r) {
			continue
		}
		if !foundBefore {
			foundBefore = r.ID == beforeID
			continue
		}
		if opts.Limit > 0 && len(out) == opts.Limit {
			break
		}
		if r.ID == sinceID {
			break
		}
		if !match.state(&r) {
			continue
		}
		sum := container.Summary{
			ID:      r.ID,
			Names:   []string{r.Name},
			Image:   r.Config.Image,
			Command: strings.Join(append([]string{r.Path}, r.Args...), " "),
			Created: r.Created,
			Status:  r.State.String(),
			Labels:  r.Config.Labels,
		}
		if opts.Size {
			// Docker 1.7's getSize: the rw layer against the init layer,
			// and the whole mounted tree.
			if n, err := s.storage.DiffSize(ctx, r.ID, r.ID+initSuffix); err == nil {
				sum.SizeRw = n
			}
			if n, err := s.storage.DiffSize(ctx, r.ID, ""); err == nil {
				sum.SizeRootFs = n
			}
		}
		out = append(out, sum)
	}
	return out, nil
}

// listFilter is the list's `filters`.
type listFilter struct {
	ids, names []*regexp.Regexp
	labels     []string
	statuses   []string
	exited     []int
	needsAll   bool
}

func newListFilter(f map[string][]string) (*listFilter, error) {
	m := &listFilter{}
	for key, values := range f {
		switch key {
		case "id", "name":
			for _, v := range values {
				re, err := regexp.Compile(v)
				if err != nil {
					return nil, errdefs.InvalidParameter(fmt.Errorf("invalid filter %s=%s: %w", key, v, err))
				}
				if key == "id" {
					m.ids = append(m.ids, re)
				} else {
					m.names = append(m.names, re)
				}
			}
		case "label":
			m.labels = values
		case "status":
			for _, v := range values {
				switch v {
				case "running", "paused", "restarting", "exited":
				default:
					return nil, errdefs.InvalidParameter(fmt.Errorf("Unrecognised filter value for status: %s", v))
				}
				if v != "running" {
					m.needsAll = true
				}
			}
			m.statuses = values
		case "exited":
			for _, v := range values {
				code, err := strconv.Atoi(v)
				if err != nil {
					return nil, errdefs.InvalidParameter(fmt.Errorf("invalid filter exited=%s: not an integer", v))
				}
				m.exited = append(m.exited, code)
			}
			m.needsAll = true
		default:
			return nil, errdefs.InvalidParameter(fmt.Errorf("Invalid filter '%s'", key))
		}
	}
	return m, nil
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	if len(res) == 0 {
		return true
	}
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func (m *listFilter) nameAndID(r *container.Record) bool {
	if !anyMatch(m.ids, r.ID) || !anyMatch(m.names, r.Name) {
		return false
	}
	for _, l := range m.labels {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := r.Config.Labels[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	return true
}

func (m *listFilter) state(r *container.Record) bool {
	if len(m.exited) > 0 {
		if r.State.Running {
			return false
		}
		ok := false
		for _, code := range m.exited {
			ok = ok || r.State.ExitCode == code
		}
		if !ok {
			return false
		}
	}
	if len(m.statuses) > 0 {
		ok := false
		for _, st := range m.statuses {
			ok = ok || r.State.StateString() == st
		}
		return ok
	}
	return true
}

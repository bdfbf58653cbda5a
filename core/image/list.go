package image

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/image/reference"
)

// ListOptions are the arguments of List (GET /images/json).
type ListOptions struct {
	// All includes intermediate images (untagged parents of others).
	All bool
	// Filters is the decoded `filters` parameter: "dangling" ("true" or
	// "false") and "label" ("key" or "key=value").
	Filters map[string][]string
	// Filter is the legacy `filter`: a glob on the familiar repository
	// name (path.Match, as Docker 1.7's graph/list.go).
	Filter string
}

// List returns images newest first, following Docker 1.7's graph/list.go:
// without All only heads (images no other image has as parent) and tagged
// images are shown; dangling=true shows only untagged heads; a legacy
// Filter shows only tagged images of matching repositories.
func (s *Service) List(ctx context.Context, opts ListOptions) ([]Summary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	danglingOnly := false
	for k, vs := range opts.Filters {
		switch k {
		case "dangling":
			for _, v := range vs {
				switch strings.ToLower(v) {
				case "true", "1":
					danglingOnly = true
				case "false", "0":
				default:
					return nil, errdefs.InvalidParameter(fmt.Errorf("Invalid filter 'dangling=%s'", v))
				}
			}
		case "label":
		default:
			return nil, errdefs.InvalidParameter(fmt.Errorf("Invalid filter '%s'", k))
		}
	}
	labels := opts.Filters["label"]
	if opts.Filter != "" {
		if _, err := path.Match(opts.Filter, ""); err != nil {
			return nil, errdefs.InvalidParameter(fmt.Errorf("bad filter %q: %w", opts.Filter, err))
		}
	}

	var out []Summary
	err := s.db.View(func(tx *bolt.Tx) error {
		recs, err := allRecords(tx)
		if err != nil {
			return err
		}
		tags, err := tagsByID(tx)
		if err != nil {
			return err
		}
		kids := children(recs)
		for id, rec := range recs {
			refs := tags[id]
			head := len(kids[id]) == 0
			switch {
			case danglingOnly:
				if len(refs) > 0 || !head {
					continue
				}
			case opts.Filter != "":
				refs = matchRepo(refs, opts.Filter)
				if len(refs) == 0 {
					continue
				}
			case !opts.All && len(refs) == 0 && !head:
				continue
			}
			if !matchLabels(rec.ContainerConfig.Labels, labels) {
				continue
			}
			out = append(out, Summary{
				ID:          id,
				ParentID:    rec.Parent,
				RepoTags:    refStrings(refs),
				Created:     rec.Created,
				Size:        rec.Size,
				VirtualSize: virtualSize(recs, id),
				Labels:      rec.ContainerConfig.Labels,
			})
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// matchRepo keeps the refs whose familiar repository name matches glob.
func matchRepo(refs []reference.Ref, glob string) []reference.Ref {
	var out []reference.Ref
	for _, r := range refs {
		if ok, _ := path.Match(glob, r.Familiar()); ok {
			out = append(out, r)
		}
	}
	return out
}

// matchLabels reports whether labels satisfy every "key" or "key=value"
// filter (Docker's filters.MatchKVList).
func matchLabels(labels map[string]string, filters []string) bool {
	for _, f := range filters {
		k, v, withValue := strings.Cut(f, "=")
		got, ok := labels[k]
		if !ok || (withValue && got != v) {
			return false
		}
	}
	return true
}

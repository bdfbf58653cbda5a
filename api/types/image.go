package types

import (
	"encoding/json"
	"time"

	"github.com/pluggd/pluggd/api/version"
)

// ImageSummary is one entry of GET /images/json at v1.19 (Docker 1.7's
// types.Image, in its key order). ImagesForVersion shapes older answers.
type ImageSummary struct {
	ID          string `json:"Id"`
	ParentId    string
	RepoTags    []string
	RepoDigests []string
	Created     int64
	Size        int64
	VirtualSize int64
	Labels      map[string]string
}

// imageSummaryV17 is the list entry of v1.7–v1.17: one per image with
// RepoTags, before RepoDigests and Labels (VERSIONS.md v1.7, v1.18).
type imageSummaryV17 struct {
	ID          string `json:"Id"`
	ParentId    string
	RepoTags    []string
	Created     int64
	Size        int64
	VirtualSize int64
}

// legacyImage is a row of the list before v1.7: one per repo:tag
// (VERSIONS.md §1 "< 1.7", Docker 1.6's LegacyImage). Size and VirtualSize
// came with v1.2.
type legacyImage struct {
	Repository  string
	Tag         string
	ID          string `json:"Id"`
	Created     int64
	Size        *int64 `json:",omitempty"`
	VirtualSize *int64 `json:",omitempty"`
}

// The names Docker shows for an untagged image.
const (
	NoneTag    = "<none>:<none>"
	NoneDigest = "<none>@<none>"
)

// ImagesForVersion returns what GET /images/json answers at API version v.
// list is the v1.19 answer (RepoTags already holding NoneTag for untagged
// images).
func ImagesForVersion(v string, list []ImageSummary) any {
	at := func(min string) bool { return !version.LessThan(v, min) }
	switch {
	case at("1.18"):
		if list == nil {
			list = []ImageSummary{}
		}
		return list
	case at("1.7"):
		out := make([]imageSummaryV17, 0, len(list))
		for _, i := range list {
			out = append(out, imageSummaryV17{i.ID, i.ParentId, i.RepoTags, i.Created, i.Size, i.VirtualSize})
		}
		return out
	}
	out := []legacyImage{}
	for _, i := range list {
		for _, rt := range i.RepoTags {
			repo, tag := splitRepoTag(rt)
			row := legacyImage{Repository: repo, Tag: tag, ID: i.ID, Created: i.Created}
			if at("1.2") {
				row.Size, row.VirtualSize = &i.Size, &i.VirtualSize
			}
			out = append(out, row)
		}
	}
	return out
}

// splitRepoTag splits "repo:tag" at the last colon that is not part of a
// registry's host:port ("localhost:5000/x:1").
func splitRepoTag(s string) (string, string) {
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ':':
			return s[:i], s[i+1:]
		case '/':
			return s, ""
		}
	}
	return s, ""
}

// ImageInspect is GET /images/{name}/json from v1.12 (Docker 1.7's
// types.ImageInspect). Below v1.12 the stored image JSON is sent as is.
// Config and ContainerConfig are the stored objects, re-encoded.
type ImageInspect struct {
	Id              string
	Parent          string
	Comment         string
	Created         time.Time
	Container       string
	ContainerConfig json.RawMessage
	DockerVersion   string
	Author          string
	Config          json.RawMessage
	Architecture    string
	Os              string
	Size            int64
	VirtualSize     int64
}

// ImageInspectForVersion returns what GET /images/{name}/json answers at v:
// the v1.19 shape, or raw (the stored image JSON) before v1.12
// (VERSIONS.md §1 "< 1.12").
func ImageInspectForVersion(v string, i *ImageInspect, raw json.RawMessage) any {
	if version.LessThan(v, "1.12") {
		return raw
	}
	return i
}

// ImageHistory is one entry of GET /images/{name}/history at v1.19.
type ImageHistory struct {
	ID        string `json:"Id"`
	Created   int64
	CreatedBy string
	Tags      []string
	Size      int64
	Comment   string
}

// History entries of older versions (VERSIONS.md §4: Tags in v1.3, Size in
// v1.7, Comment in v1.19).
type (
	imageHistoryV10 struct {
		ID        string `json:"Id"`
		Created   int64
		CreatedBy string
	}
	imageHistoryV13 struct {
		ID        string `json:"Id"`
		Created   int64
		CreatedBy string
		Tags      []string
	}
	imageHistoryV17 struct {
		ID        string `json:"Id"`
		Created   int64
		CreatedBy string
		Tags      []string
		Size      int64
	}
)

// ImageHistoryForVersion returns what GET /images/{name}/history answers
// at v.
func ImageHistoryForVersion(v string, h []ImageHistory) any {
	at := func(min string) bool { return !version.LessThan(v, min) }
	switch {
	case at("1.19"):
		if h == nil {
			h = []ImageHistory{}
		}
		return h
	case at("1.7"):
		out := make([]imageHistoryV17, 0, len(h))
		for _, e := range h {
			out = append(out, imageHistoryV17{e.ID, e.Created, e.CreatedBy, e.Tags, e.Size})
		}
		return out
	case at("1.3"):
		out := make([]imageHistoryV13, 0, len(h))
		for _, e := range h {
			out = append(out, imageHistoryV13{e.ID, e.Created, e.CreatedBy, e.Tags})
		}
		return out
	}
	out := make([]imageHistoryV10, 0, len(h))
	for _, e := range h {
		out = append(out, imageHistoryV10{e.ID, e.Created, e.CreatedBy})
	}
	return out
}

// ImageDelete is one row of DELETE /images/{name} (v1.2+): exactly one key.
type ImageDelete struct {
	Untagged string `json:",omitempty"`
	Deleted  string `json:",omitempty"`
}

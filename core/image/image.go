package image

import (
	"encoding/json"
	"time"
)

// Image is Docker's image JSON v1 (DOCKER17.md §5, Docker 1.7's
// image.Image), the form stored and exported by save. Keys are lower-case
// except "Size"; container_config is always emitted.
type Image struct {
	ID              string    `json:"id"`
	Parent          string    `json:"parent,omitempty"`
	Comment         string    `json:"comment,omitempty"`
	Created         time.Time `json:"created"`
	Container       string    `json:"container,omitempty"`
	ContainerConfig Config    `json:"container_config"`
	DockerVersion   string    `json:"docker_version,omitempty"`
	Author          string    `json:"author,omitempty"`
	Config          *Config   `json:"config,omitempty"`
	Architecture    string    `json:"architecture,omitempty"`
	OS              string    `json:"os,omitempty"`
	Size            int64     `json:"Size"`
}

// Config is the run configuration an image carries (Docker 1.7's
// runconfig.Config), in Docker's field order so that re-encoded inspect
// output matches the old daemon's.
type Config struct {
	Hostname        string
	Domainname      string
	User            string
	AttachStdin     bool
	AttachStdout    bool
	AttachStderr    bool
	PortSpecs       []string
	ExposedPorts    map[string]struct{}
	Tty             bool
	OpenStdin       bool
	StdinOnce       bool
	Env             []string
	Cmd             StrSlice
	Image           string
	Volumes         map[string]struct{}
	VolumeDriver    string
	WorkingDir      string
	Entrypoint      StrSlice
	NetworkDisabled bool
	MacAddress      string
	OnBuild         []string
	Labels          map[string]string
}

// StrSlice is Cmd or Entrypoint: Docker accepts a JSON string or an array
// of strings and always writes an array (or null).
type StrSlice []string

// UnmarshalJSON accepts "sh -c x" as well as ["sh","-c","x"]. A string is
// kept as one element, as Docker 1.7's runconfig.Command did.
func (s *StrSlice) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = StrSlice{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// Record is a stored image: the image JSON exactly as stored (for save and
// for inspect below API 1.12, VERSIONS.md §1) and its parsed form.
type Record struct {
	Image
	// Raw is the stored image JSON, byte for byte.
	Raw json.RawMessage
}

// Summary is one image in List's answer.
type Summary struct {
	ID       string
	ParentID string
	// RepoTags are the image's familiar "repo:tag" names, sorted; empty for
	// an untagged image (the API shows "<none>:<none>").
	RepoTags    []string
	Created     time.Time
	Size        int64
	VirtualSize int64
	// Labels come from ContainerConfig, as Docker 1.7's graph/list.go did.
	Labels map[string]string
}

// Details is Inspect's answer: the image, its parent chain's total size and
// its names.
type Details struct {
	Record
	VirtualSize int64
	RepoTags    []string
}

// HistoryEntry is one image of History's answer, newest first.
type HistoryEntry struct {
	ID        string
	Created   time.Time
	CreatedBy string
	Tags      []string
	Size      int64
	Comment   string
}

// DeleteResult is one row of Delete's answer: exactly one field is set.
type DeleteResult struct {
	Untagged string
	Deleted  string
}

package container

import (
	"sync"
	"time"
)

// Container is one container as the Store shares it: its record, guarded
// by its own lock. Hold Lock while reading or writing the fields of a
// stored container; Snapshot copies them out.
type Container struct {
	Record

	mu      sync.Mutex
	changed chan struct{}
}

// Record is a container's persisted record, stored as config.json
// (everything but HostConfig) and hostconfig.json, as Docker 1.7 kept them.
type Record struct {
	ID      string
	Created time.Time
	// Path and Args are the program the container runs: the image's and
	// the request's Entrypoint and Cmd merged.
	Path   string
	Args   []string
	Config *Config
	State  State
	// Image is the image id the container was created from.
	Image string
	// Name is the container's name with Docker's leading "/".
	Name           string
	ResolvConfPath string
	HostnamePath   string
	HostsPath      string
	LogPath        string
	RestartCount   int
	// Driver and ExecDriver name the storage and execution drivers that
	// hold the container (inspect's Driver and ExecDriver).
	Driver          string
	ExecDriver      string
	MountLabel      string
	ProcessLabel    string
	AppArmorProfile string
	Volumes         map[string]string
	VolumesRW       map[string]bool

	// HostConfig is stored apart, in hostconfig.json.
	HostConfig *HostConfig `json:"-"`
}

// Snapshot returns a copy of the record that stays valid after Unlock; the
// caller holds the lock. Config and HostConfig are copied one level deep:
// the daemon replaces slices and maps, never changes them in place.
func (c *Container) Snapshot() Record {
	r := c.Record
	if r.Config != nil {
		cfg := *r.Config
		r.Config = &cfg
	}
	if r.HostConfig != nil {
		hc := *r.HostConfig
		r.HostConfig = &hc
	}
	return r
}

// Lock locks the container's fields.
func (c *Container) Lock() { c.mu.Lock() }

// Unlock unlocks them.
func (c *Container) Unlock() { c.mu.Unlock() }

// Changed returns a channel closed at the next Notify. The caller holds
// the lock, so that no change can slip between reading the state and
// taking the channel.
func (c *Container) Changed() <-chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// Notify wakes everyone waiting in Changed; the caller holds the lock and
// has just changed the state.
func (c *Container) Notify() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Dir-relative file names, Docker 1.7's.
const (
	configFile     = "config.json"
	hostConfigFile = "hostconfig.json"
)

// LogFileName is the json-file log's name inside the container directory:
// <id>-json.log (DOCKER17.md §7).
func LogFileName(id string) string { return id + "-json.log" }

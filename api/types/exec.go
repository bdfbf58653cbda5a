package types

import (
	"time"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/image"
)

// ExecCreateRequest is the body of POST /containers/{id}/exec (Docker
// 1.7's runconfig.ExecConfig). Cmd may be a string, kept as one element
// (the v1.19 document allows it; Docker 1.7 refused it). Container and
// Detach are read by Docker 1.7's CLI only.
type ExecCreateRequest struct {
	User         string
	Privileged   bool
	Tty          bool
	AttachStdin  bool
	AttachStderr bool
	AttachStdout bool
	Detach       bool
	Cmd          image.StrSlice
}

// ExecCreateResponse answers POST /containers/{id}/exec (201). Docker 1.6
// and 1.7 sent no Warnings, whatever the documents show (VERSIONS.md
// v1.18).
type ExecCreateResponse struct {
	ID string `json:"Id"`
}

// ExecStartRequest is the body of POST /exec/{id}/start.
type ExecStartRequest struct {
	Detach bool
	// Tty chooses the framing of the hijacked stream (raw with a
	// terminal, multiplexed without), as in Docker 1.7, which read it
	// from this body and not from the exec's own Tty.
	Tty bool
}

// ExecProcessConfig is ExecInspect's ProcessConfig (Docker 1.7's
// execdriver.ProcessConfig, lower-case keys).
type ExecProcessConfig struct {
	Privileged bool     `json:"privileged"`
	User       string   `json:"user"`
	Tty        bool     `json:"tty"`
	Entrypoint string   `json:"entrypoint"`
	Arguments  []string `json:"arguments"`
}

// ExecInspect is GET /exec/{id}/json: Docker 1.7 sent its raw execConfig,
// hence "ID" and the raw container (VERSIONS.md v1.16).
type ExecInspect struct {
	ID            string
	Running       bool
	ExitCode      int
	ProcessConfig ExecProcessConfig
	OpenStdin     bool
	OpenStderr    bool
	OpenStdout    bool
	Container     *ContainerRaw
}

// ContainerRaw is a container as Docker 1.7 stored it (daemon.Container's
// JSON, in its key order), which the exec inspect embeds: State first,
// "ID", UpdateDns and MountPoints, no HostConfig.
type ContainerRaw struct {
	State           *ContainerState
	ID              string
	Created         time.Time
	Path            string
	Args            []string
	Config          *container.Config
	Image           string
	NetworkSettings *NetworkSettings
	ResolvConfPath  string
	HostnamePath    string
	HostsPath       string
	LogPath         string
	Name            string
	Driver          string
	ExecDriver      string
	MountLabel      string
	ProcessLabel    string
	RestartCount    int
	UpdateDns       bool
	MountPoints     map[string]any
	Volumes         map[string]string
	VolumesRW       map[string]bool
	AppArmorProfile string
}

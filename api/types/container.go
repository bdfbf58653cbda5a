package types

import (
	"time"

	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/container"
)

// ContainerCreateRequest is the body of POST /containers/create: the run
// configuration with the host configuration nested (v1.15+), and the
// resource fields older clients sent in the run configuration itself
// (before v1.18 they were not in HostConfig; Docker 1.7's
// ContainerConfigWrapper still read them).
type ContainerCreateRequest struct {
	container.Config
	HostConfig *container.HostConfig

	// Legacy fields of the run configuration, copied into HostConfig when
	// it does not set them.
	Memory     int64
	MemorySwap int64
	CpuShares  int64
	Cpuset     string
	CpusetCpus string
}

// HostConfigOrLegacy returns the host configuration the request asks for:
// HostConfig, with the legacy resource fields filled in where it left them
// zero.
func (r *ContainerCreateRequest) HostConfigOrLegacy() *container.HostConfig {
	hc := r.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if hc.Memory == 0 {
		hc.Memory = r.Memory
	}
	if hc.MemorySwap == 0 {
		hc.MemorySwap = r.MemorySwap
	}
	if hc.CpuShares == 0 {
		hc.CpuShares = r.CpuShares
	}
	if hc.CpusetCpus == "" {
		hc.CpusetCpus = r.CpusetCpus
	}
	if hc.CpusetCpus == "" {
		hc.CpusetCpus = r.Cpuset
	}
	return hc
}

// ContainerCreateResponse answers POST /containers/create (201). Docker
// 1.7 sent "Warnings": null when there were none.
type ContainerCreateResponse struct {
	ID       string `json:"Id"`
	Warnings []string
}

// ContainerWaitResponse answers POST /containers/{id}/wait.
type ContainerWaitResponse struct {
	StatusCode int
}

// Port is one entry of the container list's Ports.
type Port struct {
	IP          string `json:",omitempty"`
	PrivatePort int
	PublicPort  int `json:",omitempty"`
	Type        string
}

// ContainerSummary is one entry of GET /containers/json at v1.19 (Docker
// 1.7's types.Container, in its key order).
type ContainerSummary struct {
	ID         string `json:"Id"`
	Names      []string
	Image      string
	Command    string
	Created    int64
	Ports      []Port
	SizeRw     int64 `json:",omitempty"`
	SizeRootFs int64 `json:",omitempty"`
	Labels     map[string]string
	Status     string
}

// containerSummaryV14 is the list entry before v1.18: no Labels
// (VERSIONS.md v1.18).
type containerSummaryV14 struct {
	ID         string `json:"Id"`
	Names      []string
	Image      string
	Command    string
	Created    int64
	Ports      []Port
	SizeRw     int64 `json:",omitempty"`
	SizeRootFs int64 `json:",omitempty"`
	Status     string
}

// containerSummaryV1 is the list entry before v1.5: Ports was a display
// string ("" here, pluggd publishes no ports), and Names came only in
// v1.6 (VERSIONS.md §3).
type containerSummaryV1 struct {
	ID         string `json:"Id"`
	Image      string
	Command    string
	Created    int64
	Status     string
	Ports      string
	SizeRw     int64 `json:",omitempty"`
	SizeRootFs int64 `json:",omitempty"`
}

// ContainersForVersion returns what GET /containers/json answers at API
// version v; list is the v1.19 answer.
func ContainersForVersion(v string, list []ContainerSummary) any {
	at := func(min string) bool { return !version.LessThan(v, min) }
	switch {
	case at("1.18"):
		if list == nil {
			list = []ContainerSummary{}
		}
		return list
	case at("1.5"):
		out := make([]containerSummaryV14, 0, len(list))
		for _, c := range list {
			out = append(out, containerSummaryV14{c.ID, c.Names, c.Image, c.Command, c.Created, c.Ports, c.SizeRw, c.SizeRootFs, c.Status})
		}
		return out
	}
	out := make([]containerSummaryV1, 0, len(list))
	for _, c := range list {
		out = append(out, containerSummaryV1{ID: c.ID, Image: c.Image, Command: c.Command, Created: c.Created, Status: c.Status, SizeRw: c.SizeRw, SizeRootFs: c.SizeRootFs})
	}
	return out
}

// ContainerState is inspect's State.
type ContainerState struct {
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// Address is a secondary IP address.
type Address struct {
	Addr      string
	PrefixLen int
}

// NetworkSettings is inspect's NetworkSettings at v1.19 (Docker 1.7.1's
// network.Settings, libnetwork fields included). pluggd sets up no
// networking yet, so every value is empty.
type NetworkSettings struct {
	Bridge                 string
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	HairpinMode            bool
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	MacAddress             string
	NetworkID              string
	PortMapping            map[string]map[string]string
	Ports                  map[string][]container.PortBinding
	SandboxKey             string
	SecondaryIPAddresses   []Address
	SecondaryIPv6Addresses []Address
}

// ContainerJSON is GET /containers/{id}/json at v1.19 (Docker 1.7's
// types.ContainerJSON, in its key order). Mounts arrived in v1.20; v1.19
// has Volumes and VolumesRW.
type ContainerJSON struct {
	ID              string `json:"Id"`
	Created         time.Time
	Path            string
	Args            []string
	Config          *container.Config
	State           *ContainerState
	Image           string
	NetworkSettings *NetworkSettings
	ResolvConfPath  string
	HostnamePath    string
	HostsPath       string
	LogPath         string
	Name            string
	RestartCount    int
	Driver          string
	ExecDriver      string
	MountLabel      string
	ProcessLabel    string
	Volumes         map[string]string
	VolumesRW       map[string]bool
	AppArmorProfile string
	ExecIDs         []string
	HostConfig      *container.HostConfig
}

// configPre119 is the inspect Config below v1.19: Docker 1.7 copied the
// resource fields back from HostConfig (VERSIONS.md §1 gates table).
type configPre119 struct {
	*container.Config
	Memory     int64
	MemorySwap int64
	CpuShares  int64
	Cpuset     string
}

// containerJSONPre119 is ContainerJSON with configPre119.
type containerJSONPre119 struct {
	ContainerJSON
	Config *configPre119
}

// ContainerInspectForVersion returns what inspect answers at API version
// v. Below v1.12 Docker ≤ 1.6 sent the raw stored record; pluggd sends the
// v1.12+ shape there too (Docker 1.7.0 did the same): old clients read
// the keys they know from it.
func ContainerInspectForVersion(v string, c *ContainerJSON) any {
	if !version.LessThan(v, "1.19") {
		return c
	}
	out := &containerJSONPre119{ContainerJSON: *c, Config: &configPre119{Config: c.Config}}
	if c.HostConfig != nil {
		out.Config.Memory = c.HostConfig.Memory
		out.Config.MemorySwap = c.HostConfig.MemorySwap
		out.Config.CpuShares = c.HostConfig.CpuShares
		out.Config.Cpuset = c.HostConfig.CpusetCpus
	}
	return out
}

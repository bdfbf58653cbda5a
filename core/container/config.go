package container

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pluggd/pluggd/core/image"
)

// Config is the run configuration of a container (Docker 1.7's
// runconfig.Config). It is the very type images carry as their config: one
// definition, so a container's config and its image's merge field by field
// and can never drift apart.
type Config = image.Config

// HostConfig is the host-dependent configuration of a container (Docker
// 1.7's runconfig.HostConfig), with Docker's JSON names so that create and
// start bodies decode into it.
type HostConfig struct {
	Binds           []string
	ContainerIDFile string
	LxcConf         LxcConf
	Memory          int64
	MemorySwap      int64
	CpuShares       int64
	CpuPeriod       int64
	CpusetCpus      string
	CpusetMems      string
	CpuQuota        int64
	BlkioWeight     int64
	OomKillDisable  bool
	Privileged      bool
	PortBindings    map[string][]PortBinding
	Links           []string
	PublishAllPorts bool
	Dns             []string
	DnsSearch       []string
	ExtraHosts      []string
	VolumesFrom     []string
	Devices         []DeviceMapping
	NetworkMode     string
	IpcMode         string
	PidMode         string
	UTSMode         string
	CapAdd          []string
	CapDrop         []string
	RestartPolicy   RestartPolicy
	SecurityOpt     []string
	ReadonlyRootfs  bool
	Ulimits         []*Ulimit
	LogConfig       LogConfig
	CgroupParent    string
}

// PortBinding is one host side of a published port.
type PortBinding struct {
	HostIp   string
	HostPort string
}

// DeviceMapping is a host device made available in the container.
type DeviceMapping struct {
	PathOnHost        string
	PathInContainer   string
	CgroupPermissions string
}

// RestartPolicy says whether the daemon restarts a container that exited.
type RestartPolicy struct {
	Name              string
	MaximumRetryCount int
}

// Ulimit is one resource limit ("nofile" and so on).
type Ulimit struct {
	Name string
	Hard int64
	Soft int64
}

// LogConfig selects the container's log driver.
type LogConfig struct {
	Type   string
	Config map[string]string
}

// KeyValuePair is one LxcConf entry.
type KeyValuePair struct {
	Key   string
	Value string
}

// LxcConf is HostConfig.LxcConf. Clients send it as a list of
// {"Key","Value"} objects or as a JSON object (the v1.19 document's example
// is {"lxc.utsname":"docker"}); Docker 1.7's runconfig.LxcConfig accepted
// both and wrote the list form.
type LxcConf []KeyValuePair

// UnmarshalJSON accepts the list and the object form. The object form is
// sorted by key so the stored order does not depend on map iteration.
func (l *LxcConf) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	var list []KeyValuePair
	if err := json.Unmarshal(b, &list); err == nil {
		*l = list
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("LxcConf: want a list of {Key, Value} or an object: %w", err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(LxcConf, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyValuePair{Key: k, Value: m[k]})
	}
	*l = out
	return nil
}

// SharedContainer returns the container a namespace mode names, as
// "container:<name|id>" did in Docker 1.7's runconfig.
func SharedContainer(mode string) (string, bool) {
	rest, ok := strings.CutPrefix(mode, "container:")
	return rest, ok && rest != ""
}

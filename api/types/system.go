package types

import "github.com/pluggd/pluggd/api/version"

// Info is GET /info at v1.19, with Docker 1.7's keys in its order
// (VERSIONS.md §3 "/info keys by version"), plus BridgeNfIptables and
// BridgeNfIp6tables, which later Docker clients read. InfoForVersion shapes
// it for older versions.
type Info struct {
	ID                 string
	Containers         int
	Images             int
	Driver             string
	DriverStatus       [][2]string
	MemoryLimit        bool
	SwapLimit          bool
	CpuCfsPeriod       bool
	CpuCfsQuota        bool
	IPv4Forwarding     bool
	BridgeNfIptables   bool
	BridgeNfIp6tables  bool
	Debug              bool
	NFd                int
	OomKillDisable     bool
	NGoroutines        int
	SystemTime         string
	ExecutionDriver    string
	LoggingDriver      string
	NEventsListener    int
	KernelVersion      string
	OperatingSystem    string
	IndexServerAddress string
	RegistryConfig     *RegistryConfig
	InitSha1           string
	InitPath           string
	NCPU               int
	MemTotal           int64
	DockerRootDir      string
	HttpProxy          string
	HttpsProxy         string
	NoProxy            string
	Name               string
	Labels             []string
	ExperimentalBuild  bool
}

// RegistryConfig is /info's RegistryConfig (v1.17+).
type RegistryConfig struct {
	InsecureRegistryCIDRs []string
	IndexConfigs          map[string]*IndexInfo
}

// IndexInfo describes one registry index.
type IndexInfo struct {
	Name     string
	Mirrors  []string
	Secure   bool
	Official bool
}

// Version is GET /version at v1.19, in Docker 1.7's key order.
// Experimental is omitted unless true, as Docker 1.7 did.
type Version struct {
	Version       string
	ApiVersion    string
	GitCommit     string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string
	Experimental  bool `json:",omitempty"`
}

// object is a legacy response built key by key. Docker 0.8–1.6 built /info
// from an engine.Env, a map, so its JSON keys came out sorted, as a Go map's
// do.
type object map[string]any

// setOmitEmpty mimics a struct field tagged omitempty in Docker ≤ 0.7's
// api_params.go.
func (o object) setOmitEmpty(k string, v any) {
	switch x := v.(type) {
	case bool:
		if !x {
			return
		}
	case int:
		if x == 0 {
			return
		}
	case string:
		if x == "" {
			return
		}
	case [][2]string:
		if len(x) == 0 {
			return
		}
	}
	o[k] = v
}

// boolInt is how engine.Env wrote booleans: 0 or 1 (v1.9–v1.18).
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// InfoForVersion returns what GET /info answers at API version v. ver
// supplies v1.0's Version and GoVersion keys.
//
// v1.19 gets Info itself. v1.9–v1.18 get Docker 0.8–1.6's engine.Env shape:
// booleans as 0/1 and keys added version by version (VERSIONS.md v1.9: Docker
// 1.7 sent booleans to every version, but clients of that era were tested
// against 0/1). Below v1.9 the omitempty structs of Docker ≤ 0.7. Keys of
// features pluggd lacks are left out: LXCVersion (v1.4–v1.8, no LXC exec
// driver runs in-process) and Sockets (Docker 1.1 only).
func InfoForVersion(v string, i *Info, ver *Version) any {
	if !version.LessThan(v, "1.19") {
		return i
	}
	at := func(min string) bool { return !version.LessThan(v, min) }
	o := object{}
	if at("1.9") {
		for k, val := range map[string]any{
			"Containers": i.Containers, "Images": i.Images, "Driver": i.Driver, "DriverStatus": i.DriverStatus,
			"MemoryLimit": boolInt(i.MemoryLimit), "SwapLimit": boolInt(i.SwapLimit),
			"IPv4Forwarding": boolInt(i.IPv4Forwarding), "Debug": boolInt(i.Debug),
			"NFd": i.NFd, "NGoroutines": i.NGoroutines, "ExecutionDriver": i.ExecutionDriver,
			"NEventsListener": i.NEventsListener, "KernelVersion": i.KernelVersion,
			"IndexServerAddress": i.IndexServerAddress, "InitSha1": i.InitSha1, "InitPath": i.InitPath,
		} {
			o[k] = val
		}
		if at("1.14") {
			o["OperatingSystem"] = i.OperatingSystem
		}
		if at("1.16") {
			o["ID"], o["NCPU"], o["MemTotal"], o["DockerRootDir"], o["Name"], o["Labels"] =
				i.ID, i.NCPU, i.MemTotal, i.DockerRootDir, i.Name, i.Labels
		}
		if at("1.17") {
			o["RegistryConfig"] = i.RegistryConfig
		}
		if at("1.18") {
			o["SystemTime"] = i.SystemTime
			// Docker 1.6 sent the proxies only when set.
			o.setOmitEmpty("HttpProxy", i.HttpProxy)
			o.setOmitEmpty("HttpsProxy", i.HttpsProxy)
			o.setOmitEmpty("NoProxy", i.NoProxy)
		}
		return o
	}
	o["Containers"], o["Images"], o["Debug"] = i.Containers, i.Images, i.Debug
	o.setOmitEmpty("NFd", i.NFd)
	o.setOmitEmpty("NGoroutines", i.NGoroutines)
	if !at("1.1") {
		o["Version"], o["GoVersion"] = ver.Version, ver.GoVersion
		return o
	}
	o.setOmitEmpty("MemoryLimit", i.MemoryLimit)
	o.setOmitEmpty("SwapLimit", i.SwapLimit)
	if at("1.4") {
		o.setOmitEmpty("NEventsListener", i.NEventsListener)
		o.setOmitEmpty("KernelVersion", i.KernelVersion)
	}
	if at("1.5") {
		o.setOmitEmpty("IPv4Forwarding", i.IPv4Forwarding)
		o.setOmitEmpty("IndexServerAddress", i.IndexServerAddress)
	}
	if at("1.8") {
		o.setOmitEmpty("Driver", i.Driver)
		o.setOmitEmpty("DriverStatus", i.DriverStatus)
	}
	return o
}

// VersionForVersion returns what GET /version answers at API version v
// (VERSIONS.md §3 "/version keys"). v1.0 reported the memory and swap
// limits, which it takes from info; info may be nil for other versions.
func VersionForVersion(v string, ver *Version, info *Info) any {
	at := func(min string) bool { return !version.LessThan(v, min) }
	switch {
	case at("1.19"):
		return ver
	case !at("1.1"):
		o := object{"Version": ver.Version, "GitCommit": ver.GitCommit, "MemoryLimit": false, "SwapLimit": false}
		if info != nil {
			o["MemoryLimit"], o["SwapLimit"] = info.MemoryLimit, info.SwapLimit
		}
		return o
	}
	o := object{"Version": ver.Version}
	if at("1.9") {
		// engine.Env (Docker 0.8–1.6) sent every key, empty or not.
		o["GitCommit"], o["GoVersion"] = ver.GitCommit, ver.GoVersion
		o["Os"], o["Arch"], o["KernelVersion"] = ver.Os, ver.Arch, ver.KernelVersion
	} else {
		o.setOmitEmpty("GitCommit", ver.GitCommit)
		o.setOmitEmpty("GoVersion", ver.GoVersion)
	}
	if at("1.10") {
		o["ApiVersion"] = ver.ApiVersion
	}
	return o
}

package daemon

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/pluggd/pluggd/api/types"
	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/driver/storage"
)

// storageDriver is what /info needs from the running storage plugin.
type storageDriver interface {
	Info(ctx context.Context) (storage.Info, error)
	Status(ctx context.Context) ([]storage.StatusPair, error)
}

// imageCounter is what /info needs from the image store.
type imageCounter interface {
	Count(ctx context.Context) (int, error)
}

// SystemInfo answers GET /info (v1.19 shape) with values read now from the
// host, the storage plugin and the image store.
func (d *Daemon) SystemInfo(ctx context.Context) (*types.Info, error) {
	status, err := d.storage.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage driver status: %w", err)
	}
	ds := make([][2]string, 0, len(status))
	for _, p := range status {
		ds = append(ds, [2]string{p.Key, p.Value})
	}
	sinfo, err := d.storage.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage driver info: %w", err)
	}
	images, err := d.images.Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("count images: %w", err)
	}
	h := readHostInfo(d.hostPaths)
	name, _ := os.Hostname()
	initPath, _ := os.Executable()
	labels := append([]string{}, d.cfg.Labels...)
	containers, execName := 0, ""
	if d.containers != nil {
		containers, execName = d.containers.Count(), d.containers.ExecDriverName()
	}
	return &types.Info{
		ID:           d.id,
		Containers:   containers,
		Images:       images,
		Driver:       sinfo.Name,
		DriverStatus: ds,
		MemoryLimit:  h.MemoryLimit, SwapLimit: h.SwapLimit,
		CpuCfsPeriod: h.CpuCfsPeriod, CpuCfsQuota: h.CpuCfsQuota,
		IPv4Forwarding:   h.IPv4Forwarding,
		BridgeNfIptables: h.BridgeNfIptables, BridgeNfIp6tables: h.BridgeNfIp6tables,
		Debug:          d.cfg.Debug,
		NFd:            countFDs(d.hostPaths.proc),
		OomKillDisable: h.OomKillDisable,
		NGoroutines:    runtime.NumGoroutine(),
		SystemTime:     time.Now().Format(time.RFC3339Nano),
		// The running driver's name ("native-0.2"), "" without one.
		ExecutionDriver: execName,
		// Docker 1.7's default log driver; containers will use it.
		LoggingDriver: "json-file",
		// No events stream is served yet.
		NEventsListener:    d.events.Subscribers(),
		KernelVersion:      h.KernelVersion,
		OperatingSystem:    h.OperatingSystem,
		IndexServerAddress: "https://index.docker.io/v1/",
		// Docker 1.7's defaults without --registry-mirror or
		// --insecure-registry: Docker Hub, and loopback as insecure.
		RegistryConfig: &types.RegistryConfig{
			InsecureRegistryCIDRs: []string{"127.0.0.0/8"},
			IndexConfigs: map[string]*types.IndexInfo{
				"docker.io": {Name: "docker.io", Secure: true, Official: true},
			},
		},
		// pluggd has no separate dockerinit: the init path is the daemon
		// binary and InitSha1 is empty, as for Docker's static binary.
		InitSha1:      "",
		InitPath:      initPath,
		NCPU:          ncpu(),
		MemTotal:      h.MemTotal,
		DockerRootDir: d.cfg.Root,
		HttpProxy:     proxyEnv("http_proxy"),
		HttpsProxy:    proxyEnv("https_proxy"),
		NoProxy:       proxyEnv("no_proxy"),
		Name:          name,
		Labels:        labels,
	}, nil
}

// SystemVersion answers GET /version (v1.19 shape).
func (d *Daemon) SystemVersion(ctx context.Context) (*types.Version, error) {
	return &types.Version{
		Version:       DockerVersion,
		ApiVersion:    version.Current,
		GitCommit:     gitCommit(),
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		KernelVersion: kernelVersion(d.hostPaths),
	}, nil
}

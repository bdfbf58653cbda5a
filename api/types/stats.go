package types

import "time"

// StatsJSON is one object of GET /containers/{id}/stats, Docker 1.7's
// types.Stats with its keys and order. What the exec contract does not
// sample (network, block I/O, per-CPU and user/kernel split, memory
// details, throttling) is left zero, never invented.
type StatsJSON struct {
	Read        time.Time    `json:"read"`
	Network     NetworkStats `json:"network"`
	PreCPUStats CPUStats     `json:"precpu_stats"`
	CPUStats    CPUStats     `json:"cpu_stats"`
	MemoryStats MemoryStats  `json:"memory_stats"`
	BlkioStats  BlkioStats   `json:"blkio_stats"`
}

// NetworkStats are the container's interface counters.
type NetworkStats struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
}

// CPUUsage is the container's CPU time in nanoseconds.
type CPUUsage struct {
	TotalUsage        uint64   `json:"total_usage"`
	PercpuUsage       []uint64 `json:"percpu_usage"`
	UsageInKernelmode uint64   `json:"usage_in_kernelmode"`
	UsageInUsermode   uint64   `json:"usage_in_usermode"`
}

// ThrottlingData is the CFS throttling of the container's cgroup.
type ThrottlingData struct {
	Periods          uint64 `json:"periods"`
	ThrottledPeriods uint64 `json:"throttled_periods"`
	ThrottledTime    uint64 `json:"throttled_time"`
}

// CPUStats is one CPU sample with the host's CPU time beside it.
type CPUStats struct {
	CPUUsage       CPUUsage       `json:"cpu_usage"`
	SystemUsage    uint64         `json:"system_cpu_usage"`
	ThrottlingData ThrottlingData `json:"throttling_data"`
}

// MemoryStats is the container's memory usage in bytes.
type MemoryStats struct {
	Usage    uint64            `json:"usage"`
	MaxUsage uint64            `json:"max_usage"`
	Stats    map[string]uint64 `json:"stats"`
	Failcnt  uint64            `json:"failcnt"`
	Limit    uint64            `json:"limit"`
}

// BlkioStats are the container's block I/O counters; empty, as in the
// v1.19 document's example.
type BlkioStats struct{}

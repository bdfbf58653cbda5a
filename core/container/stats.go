package container

import "time"

// Stats is one sample of a running container's resource usage, with the
// host's CPU time at the same moment (Docker's system_cpu_usage): a client
// computes a CPU percentage from two samples.
type Stats struct {
	Read time.Time
	// CPUTotal is the CPU time the container used, in nanoseconds.
	CPUTotal uint64
	// SystemCPU is the CPU time of the whole host since boot, all CPUs,
	// in nanoseconds (/proc/stat, as Docker 1.7 read it).
	SystemCPU   uint64
	MemoryUsage uint64
	// MemoryLimit is the container's memory limit, at most the host's
	// memory (Docker 1.7 reported the smaller of the two).
	MemoryLimit uint64
	Pids        uint64
}

package daemon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Stats samples a running container's resource usage through the exec
// driver (GET /containers/{id}/stats); a driver without the Stats
// capability is refused in requireCapability, a container that is not
// running is a Conflict.
func (s *Containers) Stats(ctx context.Context, ref string) (container.Stats, error) {
	c, _, err := s.get(ref)
	if err != nil {
		return container.Stats{}, err
	}
	if s.exec == nil {
		return container.Stats{}, errNoExecDriver
	}
	if err := s.requireCapability(capStats); err != nil {
		return container.Stats{}, err
	}
	c.Lock()
	running := c.State.Running
	c.Unlock()
	if !running {
		return container.Stats{}, errdefs.Conflict(fmt.Errorf("Container %s is not running", ref))
	}
	st, err := s.exec.Stats(ctx, c.ID)
	if err != nil {
		return container.Stats{}, fmt.Errorf("stats of container %s: %w", ref, err)
	}
	out := container.Stats{
		Read:        st.Read,
		CPUTotal:    st.CPUTotal,
		SystemCPU:   systemCPUUsage(),
		MemoryUsage: st.MemoryUsage,
		MemoryLimit: st.MemoryLimit,
		Pids:        st.Pids,
	}
	if out.Read.IsZero() {
		out.Read = time.Now()
	}
	if host := uint64(memTotal("/proc")); host > 0 && (out.MemoryLimit == 0 || out.MemoryLimit > host) {
		out.MemoryLimit = host
	}
	return out, nil
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Go supports (Docker 1.7 asked sysconf and got the same).
const clockTicks = 100

// systemCPUUsage is the host's CPU time since boot in nanoseconds: the
// sum of /proc/stat's first "cpu" line (Docker 1.7's getSystemCpuUsage).
func systemCPUUsage() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var total uint64
		for _, v := range f[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0
			}
			total += n
		}
		return total * (uint64(time.Second) / clockTicks)
	}
	return 0
}

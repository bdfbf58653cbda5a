package exectest

import (
	"time"
)

func statsChecks() []check {
	return []check{
		{name: "Usage", run: needStats(checkStats)},
		{name: "MemoryLimit", run: needStats(checkStatsLimit)},
	}
}

func needStats(f func(h *harness)) func(h *harness) {
	return func(h *harness) {
		if !h.info.Capabilities.Stats {
			h.t.Skip("the driver does not report Capabilities.Stats")
		}
		f(h)
	}
}

// checkStats: a busy container shows CPU time that grows, memory in use
// and its processes.
func checkStats(h *harness) {
	spec := h.spec("sh", "-c", "sleep 1000 & while :; do :; done")
	h.run(spec)
	ctx, cancel := h.callCtx()
	defer cancel()
	first, err := h.d.Stats(ctx, spec.ID)
	if err != nil {
		h.t.Fatalf("Stats: %v", err)
	}
	if first.Read.IsZero() || time.Since(first.Read) > time.Minute || first.Read.After(time.Now().Add(time.Second)) {
		h.t.Errorf("Stats.Read %v is not the time of the sample", first.Read)
	}
	if first.MemoryUsage == 0 {
		h.t.Errorf("Stats.MemoryUsage is 0 for a running shell")
	}
	// The shell may not have forked its sleep yet.
	for deadline := time.Now().Add(callTimeout); first.Pids < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if first, err = h.d.Stats(ctx, spec.ID); err != nil {
			h.t.Fatalf("Stats: %v", err)
		}
	}
	if first.Pids < 2 {
		h.t.Errorf("Stats.Pids is %d, want at least the shell and its sleep", first.Pids)
	}
	time.Sleep(300 * time.Millisecond)
	second, err := h.d.Stats(ctx, spec.ID)
	if err != nil {
		h.t.Fatalf("Stats: %v", err)
	}
	if second.CPUTotal <= first.CPUTotal {
		h.t.Errorf("CPUTotal of a spinning shell went from %d to %d ns in 300ms", first.CPUTotal, second.CPUTotal)
	}
	if !second.Read.After(first.Read) {
		h.t.Errorf("second sample read at %v, not after the first (%v)", second.Read, first.Read)
	}
}

// checkStatsLimit: a memory limit shows as MemoryLimit.
func checkStatsLimit(h *harness) {
	spec := h.spec("sleep", "1000")
	spec.Resources.Memory = 64 << 20
	h.run(spec)
	ctx, cancel := h.callCtx()
	defer cancel()
	st, err := h.d.Stats(ctx, spec.ID)
	if err != nil {
		h.t.Fatalf("Stats: %v", err)
	}
	if st.MemoryLimit != 64<<20 {
		h.t.Errorf("MemoryLimit %d with Resources.Memory 64 MiB", st.MemoryLimit)
	}
}

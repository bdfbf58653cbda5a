package main

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/exec/exectest"
	"github.com/pluggd/pluggd/core/driver/exec/exectest/pluginrun"
	"github.com/pluggd/pluggd/core/driver/exec/supervisor"
)

// TestCreateLatency times Create, Start, Wait (on the supervisor's socket,
// as the daemon does) and Delete of `true` through the built plugin binary
// under the daemon's Host, PLUGGD_BENCH_RUNS times (default 10), and logs
// each phase's median and range. It is a measurement, not a check: it runs
// only with PLUGGD_BENCH=1 (root; go test -v -run CreateLatency).
func TestCreateLatency(t *testing.T) {
	if os.Getenv("PLUGGD_BENCH") != "1" {
		t.Skip("a benchmark: set PLUGGD_BENCH=1")
	}
	runs := 10
	if n, err := strconv.Atoi(os.Getenv("PLUGGD_BENCH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	d := pluginrun.Start(t, "native", "native", pluginrun.PluginBinary(t, "exec-native"))
	ctx := context.Background()
	var create, start, wait, del, total []time.Duration
	for i := 0; i <= runs; i++ { // run 0 warms the page cache, untimed
		spec := exectest.Spec(t, "true")
		t0 := time.Now()
		st, err := d.Create(ctx, spec)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		t1 := time.Now()
		sup, err := supervisor.Dial(ctx, st.Supervisor)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if _, err := d.Start(ctx, spec.ID); err != nil {
			t.Fatalf("Start: %v", err)
		}
		t2 := time.Now()
		status, _, err := sup.Wait(ctx)
		if err != nil || status.Code != 0 {
			t.Fatalf("Wait: %v %+v", err, status)
		}
		t3 := time.Now()
		// The daemon deletes once the supervisor is gone (it lingers a
		// moment for late waiters); that wait is not the driver's.
		for {
			st, err := d.State(ctx, spec.ID)
			if err != nil {
				t.Fatalf("State: %v", err)
			}
			if st.Status == exec.StatusStopped && !processGone(st.SupervisorPid) {
				time.Sleep(2 * time.Millisecond)
				continue
			}
			break
		}
		t4 := time.Now()
		if err := d.Delete(ctx, spec.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		t5 := time.Now()
		if i == 0 {
			continue
		}
		create = append(create, t1.Sub(t0))
		start = append(start, t2.Sub(t1))
		wait = append(wait, t3.Sub(t2))
		del = append(del, t5.Sub(t4))
		total = append(total, t3.Sub(t0)+t5.Sub(t4))
	}
	for _, p := range []struct {
		name string
		ds   []time.Duration
	}{{"create", create}, {"start", start}, {"wait", wait}, {"delete", del}, {"total", total}} {
		slices.Sort(p.ds)
		t.Logf("%-7s median %6.1f ms  min %6.1f  max %6.1f", p.name, ms(p.ds[len(p.ds)/2]), ms(p.ds[0]), ms(p.ds[len(p.ds)-1]))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// processGone: no such process or a zombie.
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			return i+2 < len(s) && s[i+2] == 'Z'
		}
	}
	return false
}

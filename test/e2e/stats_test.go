package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// statsJSON is what the test reads of a stats object.
type statsJSON struct {
	Read        time.Time `json:"read"`
	PreCPUStats struct {
		CPUUsage struct {
			TotalUsage uint64 `json:"total_usage"`
		} `json:"cpu_usage"`
		SystemUsage uint64 `json:"system_cpu_usage"`
	} `json:"precpu_stats"`
	CPUStats struct {
		CPUUsage struct {
			TotalUsage uint64 `json:"total_usage"`
		} `json:"cpu_usage"`
		SystemUsage uint64 `json:"system_cpu_usage"`
	} `json:"cpu_stats"`
	MemoryStats struct {
		Usage uint64 `json:"usage"`
		Limit uint64 `json:"limit"`
	} `json:"memory_stats"`
}

// TestStats: GET /containers/{id}/stats samples a busy container's CPU
// time and memory through the exec driver, once (stream=0) or about once a
// second with the previous CPU sample as precpu_stats; docker stats
// --no-stream shows it; a stopped container is refused.
func TestStats(t *testing.T) {
	forEachExecDriver(t, func(t *testing.T, d *daemon, x *execDriver) {
		d.mustDocker("", nil, "run", "-d", "--name", "busy", "busybox", "sh", "-c", "while :; do :; done")
		time.Sleep(300 * time.Millisecond) // some CPU time to see

		code, body, h := d.raw("GET", "/v1.19/containers/busy/stats?stream=0", nil)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Fatalf("stats?stream=0: %d %s %q", code, body, h.Get("Content-Type"))
		}
		var one statsJSON
		if err := json.Unmarshal([]byte(body), &one); err != nil {
			t.Fatalf("stats?stream=0 is not one JSON object: %v\n%s", err, body)
		}
		if one.CPUStats.CPUUsage.TotalUsage < uint64(100*time.Millisecond) || one.CPUStats.SystemUsage == 0 ||
			one.MemoryStats.Usage == 0 || one.MemoryStats.Limit < one.MemoryStats.Usage || time.Since(one.Read) > time.Minute {
			t.Fatalf("stats of a busy container: %+v", one)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://pluggd/v1.19/containers/busy/stats", nil)
		resp, err := d.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(resp.Body)
		var first, second statsJSON
		if err := dec.Decode(&first); err != nil {
			t.Fatal(err)
		}
		if err := dec.Decode(&second); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if second.PreCPUStats.CPUUsage.TotalUsage != first.CPUStats.CPUUsage.TotalUsage ||
			second.CPUStats.CPUUsage.TotalUsage <= first.CPUStats.CPUUsage.TotalUsage ||
			second.CPUStats.SystemUsage <= first.CPUStats.SystemUsage || !second.Read.After(first.Read) {
			t.Fatalf("two streamed samples of a busy container:\n%+v\n%+v", first, second)
		}

		// Today's CLI shows the memory figures (its name and id columns
		// come from fields API 1.21 added, so they stay empty at 1.19).
		if out := d.mustDocker("", nil, "stats", "--no-stream", "busy"); !regexp.MustCompile(`[0-9.]+[KMG]iB / [0-9.]+[KMG]iB`).MatchString(out) {
			t.Fatalf("docker stats --no-stream: %q", out)
		}
		d.mustDocker("", nil, "kill", "busy")
		if code, body, _ := d.raw("GET", "/v1.19/containers/busy/stats?stream=0", nil); code != 409 || !strings.Contains(body, "not running") {
			t.Fatalf("stats of a stopped container: %d %s", code, body)
		}
	}, "Stats")
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pluggd/pluggd/core/driver"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/test/require"
)

// execDriver is one exec driver the lifecycle suite runs against. Its
// name and capabilities come from the plugin itself (probeExecDrivers),
// never from this file: a test skips what the driver declares missing.
type execDriver struct {
	// name is the configured driver name (pluggd -e <name>); the plugin
	// is bin/exec-<name>.
	name string
	// requirement is what PLUGGD_REQUIRE names to make an unusable driver
	// a failure instead of a skip.
	requirement string
	// info is the driver's own Info (Name, Capabilities), read from the
	// plugin binary before the tests run.
	info exec.Info
	// unusable says why the driver cannot run on this host, "" if it can.
	unusable string

	mu      sync.Mutex
	results map[string]string // top-level test → "pass", "FAIL" or "skip"
	skips   map[string]string // top-level test → why it skipped
}

// execDrivers are the drivers every lifecycle test runs against, as
// subtests named after them (TestAttach/native, TestAttach/lxc).
var execDrivers = []*execDriver{
	{name: "native", requirement: "root"},
	{name: "lxc", requirement: "lxc"},
}

// probeExecDrivers starts each exec plugin through the daemon's own plugin
// host, as pluggd would, reads its Info and stops it again. A plugin that
// refuses this host (lxc without LXC's tools) records its reason.
func probeExecDrivers() {
	host := driver.NewHost(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var roots []string
	defer func() {
		host.Shutdown(context.Background())
		for _, r := range roots {
			os.RemoveAll(r)
		}
	}()
	for _, x := range execDrivers {
		x.results, x.skips = map[string]string{}, map[string]string{}
		bin := filepath.Join(binDir, "exec-"+x.name)
		if _, err := os.Stat(bin); err != nil {
			x.unusable = fmt.Sprintf("plugin exec-%s not built: %v", x.name, err)
			continue
		}
		root, err := os.MkdirTemp("", "pluggd-probe")
		if err != nil {
			x.unusable = err.Error()
			continue
		}
		roots = append(roots, root)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ex, err := host.StartExec(ctx, driver.ExecConfig{Name: x.name, Binary: bin, Root: root})
		if err == nil {
			x.info, err = ex.Info(ctx)
		}
		cancel()
		if err != nil {
			x.unusable = err.Error()
		}
	}
}

// capabilities lists the names of the capabilities the driver declares.
func (x *execDriver) capabilities() []string {
	var out []string
	v := reflect.ValueOf(x.info.Capabilities)
	for i := range v.NumField() {
		if v.Field(i).Bool() {
			out = append(out, v.Type().Field(i).Name)
		}
	}
	return out
}

// has reports whether the driver declares the capability named as the
// field of exec.Capabilities ("Tty", "Pause", "LxcConf", ...).
func (x *execDriver) has(capability string) bool {
	f := reflect.ValueOf(x.info.Capabilities).FieldByName(capability)
	if !f.IsValid() {
		panic("no exec capability " + capability)
	}
	return f.Bool()
}

// need skips t when the driver does not declare capability, naming it.
func (x *execDriver) need(t *testing.T, capability string) {
	t.Helper()
	if !x.has(capability) {
		x.skip(t, fmt.Sprintf("exec driver %s (%s) does not declare capability %s", x.name, x.info.Name, capability))
	}
}

// forEachExecDriver runs body once per exec driver, as the subtest
// t/<driver>, each on a daemon of its own (-e <driver>, overlay) with
// busybox imported. A driver that cannot run here skips, or fails when
// PLUGGD_REQUIRE names its requirement; one that does not declare every
// capability in needs ("Tty", ...) skips naming the one it lacks, before
// any daemon starts. Outcomes are counted per driver for the summary
// TestMain prints.
func forEachExecDriver(t *testing.T, body func(t *testing.T, d *daemon, x *execDriver), needs ...string) {
	for _, x := range execDrivers {
		t.Run(x.name, func(t *testing.T) {
			t.Cleanup(func() { x.record(topName(t), t) })
			if x.unusable != "" {
				why := fmt.Sprintf("exec driver %s cannot run here: %s", x.name, x.unusable)
				x.skipped(t, why)
				require.SkipOrFail(t, x.requirement, why)
			}
			for _, c := range needs {
				x.need(t, c)
			}
			d := startDaemon(t, "-e", x.name)
			importGo(t, d, "busybox:latest", busyboxTar)
			body(t, d, x)
		})
	}
}

// skip skips t (a driver's subtest), noting why for the summary.
func (x *execDriver) skip(t *testing.T, why string) {
	t.Helper()
	x.skipped(t, why)
	t.Skip(why)
}

// skipped notes why t (a driver's subtest or below) is about to skip.
func (x *execDriver) skipped(t *testing.T, why string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.skips[topName(t)] = why
}

// topName is the top-level test's name of t.
func topName(t *testing.T) string {
	top, _, _ := strings.Cut(t.Name(), "/")
	return top
}

// record notes how a driver's subtest ended.
func (x *execDriver) record(test string, t *testing.T) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case t.Failed():
		x.results[test] = "FAIL"
	case t.Skipped():
		x.results[test] = "skip"
	default:
		x.results[test] = "pass"
	}
}

// printDriverSummary writes, per exec driver, how many parametrised tests
// passed, failed and skipped (`go test ./test/e2e/ | grep '^e2e exec
// driver'` shows it; with -v each subtest is also listed as
// `--- PASS: TestX/<driver>`).
func printDriverSummary(w io.Writer) {
	for _, x := range execDrivers {
		x.mu.Lock()
		counts := map[string][]string{}
		for test, r := range x.results {
			counts[r] = append(counts[r], test)
		}
		x.mu.Unlock()
		name := x.info.Name
		if name == "" {
			name = "unusable: " + x.unusable
		}
		fmt.Fprintf(w, "e2e exec driver %s (%s; capabilities %s): %d passed, %d failed, %d skipped\n",
			x.name, name, strings.Join(x.capabilities(), ","), len(counts["pass"]), len(counts["FAIL"]), len(counts["skip"]))
		sort.Strings(counts["FAIL"])
		if len(counts["FAIL"]) > 0 {
			fmt.Fprintf(w, "e2e exec driver %s FAIL: %s\n", x.name, strings.Join(counts["FAIL"], " "))
		}
		sort.Strings(counts["skip"])
		for _, test := range counts["skip"] {
			fmt.Fprintf(w, "e2e exec driver %s skip: %s: %s\n", x.name, test, x.skips[test])
		}
	}
}

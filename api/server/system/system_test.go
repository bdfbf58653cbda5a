package system

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/api/server"
	"github.com/pluggd/pluggd/api/types"
)

// fakeBackend stands in for the daemon; it tests the HTTP layer only.
type fakeBackend struct{}

func (fakeBackend) SystemInfo(context.Context) (*types.Info, error) {
	return &types.Info{
		ID: "AAAA:BBBB", Containers: 2, Images: 3, Driver: "overlay",
		DriverStatus: [][2]string{{"Backing Filesystem", "extfs"}},
		MemoryLimit:  true, SwapLimit: false, IPv4Forwarding: true, Debug: true,
		NFd: 10, NGoroutines: 20, KernelVersion: "6.1.0", OperatingSystem: "Debian",
		IndexServerAddress: "https://index.docker.io/v1/", NCPU: 4, MemTotal: 1 << 30,
		DockerRootDir: "/var/lib/pluggd", Name: "host", Labels: []string{}, LoggingDriver: "json-file",
		RegistryConfig: &types.RegistryConfig{InsecureRegistryCIDRs: []string{"127.0.0.0/8"}, IndexConfigs: map[string]*types.IndexInfo{}},
		SystemTime:     "2025-01-01T00:00:00Z",
	}, nil
}

func (fakeBackend) SystemVersion(context.Context) (*types.Version, error) {
	return &types.Version{Version: "1.7.1", ApiVersion: "1.19", GitCommit: "abc", GoVersion: "go1.26", Os: "linux", Arch: "amd64", KernelVersion: "6.1.0"}, nil
}

func handler() http.Handler {
	s := server.New(server.Options{Logger: slog.New(slog.DiscardHandler)})
	Register(s.Group(), fakeBackend{})
	return s.Handler()
}

func get(t *testing.T, method, path string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var m map[string]any
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return rec, m
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestPing(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/_ping", "/v1.19/_ping", "/v1.11/_ping"} {
		rec, _ := get(t, "GET", p)
		if rec.Code != 200 || rec.Body.String() != "OK" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("GET %s: %d %q %q", p, rec.Code, rec.Body, rec.Header().Get("Content-Type"))
		}
	}
	rec, _ := get(t, "HEAD", "/_ping")
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("API-Version") != "1.19" {
		t.Errorf("HEAD /_ping: %d %q %v", rec.Code, rec.Body, rec.Header())
	}
}

func TestInfoV119Shape(t *testing.T) {
	t.Parallel()
	rec, m := get(t, "GET", "/v1.19/info")
	if rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	want := []string{"BridgeNfIp6tables", "BridgeNfIptables", "Containers", "CpuCfsPeriod", "CpuCfsQuota", "Debug", "DockerRootDir",
		"Driver", "DriverStatus", "ExecutionDriver", "ExperimentalBuild", "HttpProxy", "HttpsProxy", "ID", "IPv4Forwarding",
		"Images", "IndexServerAddress", "InitPath", "InitSha1", "KernelVersion", "Labels", "LoggingDriver", "MemTotal",
		"MemoryLimit", "NCPU", "NEventsListener", "NFd", "NGoroutines", "Name", "NoProxy", "OomKillDisable",
		"OperatingSystem", "RegistryConfig", "SwapLimit", "SystemTime"}
	if got := keys(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v\nwant %v", got, want)
	}
	if m["Debug"] != true || m["SwapLimit"] != false || m["Images"] != 3.0 {
		t.Errorf("values: %v", m)
	}
	if ds := m["DriverStatus"].([]any); len(ds) != 1 || !reflect.DeepEqual(ds[0], []any{"Backing Filesystem", "extfs"}) {
		t.Errorf("DriverStatus %v", m["DriverStatus"])
	}
	// Docker 1.7's key order: ID first, ExperimentalBuild last.
	body := rec.Body.String()
	if !strings.HasPrefix(body, `{"ID":`) || !strings.HasSuffix(strings.TrimSpace(body), `"ExperimentalBuild":false}`) {
		t.Errorf("order: %s", body)
	}
	// No prefix is v1.19.
	_, m2 := get(t, "GET", "/info")
	if !reflect.DeepEqual(m, m2) {
		t.Error("/info differs from /v1.19/info")
	}
}

func TestInfoOlderShapes(t *testing.T) {
	t.Parallel()
	_, m := get(t, "GET", "/v1.18/info")
	if m["Debug"] != 1.0 || m["SwapLimit"] != 0.0 || m["MemoryLimit"] != 1.0 || m["IPv4Forwarding"] != 1.0 {
		t.Errorf("1.18 booleans must be 0/1: %v", m)
	}
	for _, k := range []string{"CpuCfsPeriod", "OomKillDisable", "LoggingDriver", "ExperimentalBuild", "HttpProxy"} {
		if _, ok := m[k]; ok {
			t.Errorf("1.18 has %s", k)
		}
	}
	for _, k := range []string{"SystemTime", "RegistryConfig", "ID", "NCPU", "OperatingSystem", "InitPath"} {
		if _, ok := m[k]; !ok {
			t.Errorf("1.18 lacks %s", k)
		}
	}
	_, m = get(t, "GET", "/v1.12/info")
	for _, k := range []string{"ID", "OperatingSystem", "RegistryConfig", "SystemTime"} {
		if _, ok := m[k]; ok {
			t.Errorf("1.12 has %s", k)
		}
	}
	if m["Debug"] != 1.0 || m["Driver"] != "overlay" {
		t.Errorf("1.12: %v", m)
	}
	_, m = get(t, "GET", "/v1.8/info")
	if m["Debug"] != true || m["Driver"] != "overlay" {
		t.Errorf("1.8: %v", m)
	}
	if _, ok := m["SwapLimit"]; ok {
		t.Error("1.8: false SwapLimit is omitted")
	}
	_, m = get(t, "GET", "/v1.0/info")
	if got, want := keys(m), []string{"Containers", "Debug", "GoVersion", "Images", "NFd", "NGoroutines", "Version"}; !reflect.DeepEqual(got, want) {
		t.Errorf("1.0 keys %v", got)
	}
}

func TestVersionShapes(t *testing.T) {
	t.Parallel()
	rec, m := get(t, "GET", "/version")
	if !strings.HasPrefix(rec.Body.String(), `{"Version":"1.7.1","ApiVersion":"1.19","GitCommit"`) {
		t.Errorf("1.19 order: %s", rec.Body)
	}
	if _, ok := m["Experimental"]; ok {
		t.Error("Experimental must be omitted when false")
	}
	cases := map[string][]string{
		"/v1.0/version":  {"GitCommit", "MemoryLimit", "SwapLimit", "Version"},
		"/v1.8/version":  {"GitCommit", "GoVersion", "Version"},
		"/v1.9/version":  {"Arch", "GitCommit", "GoVersion", "KernelVersion", "Os", "Version"},
		"/v1.18/version": {"ApiVersion", "Arch", "GitCommit", "GoVersion", "KernelVersion", "Os", "Version"},
	}
	for p, want := range cases {
		_, m := get(t, "GET", p)
		if got := keys(m); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: keys %v, want %v", p, got, want)
		}
	}
	_, m = get(t, "GET", "/v1.0/version")
	if m["MemoryLimit"] != true {
		t.Errorf("1.0 MemoryLimit %v", m["MemoryLimit"])
	}
	rec, _ = get(t, "GET", "/v1.20/version")
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 400 || !strings.Contains(string(body), "client is newer than server") {
		t.Errorf("1.20: %d %s", rec.Code, body)
	}
}

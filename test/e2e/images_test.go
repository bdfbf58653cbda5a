package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
)

var hexID = regexp.MustCompile(`^[a-f0-9]{64}$`)

// importGo imports the busybox tar as ref with the Go client and returns the
// new image id, read from the last message of the JSON stream.
func importGo(t *testing.T, d *daemon, ref string, tarball []byte) string {
	t.Helper()
	c := d.goClient()
	rc, err := c.ImageImport(context.Background(), image.ImportSource{Source: bytes.NewReader(tarball), SourceName: "-"}, ref, image.ImportOptions{})
	if err != nil {
		t.Fatalf("ImageImport: %v", err)
	}
	defer rc.Close()
	var last struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	dec := json.NewDecoder(rc)
	for {
		var m struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("import stream: %v", err)
		}
		if m.Error != "" {
			t.Fatalf("import failed: %s", m.Error)
		}
		last = m
	}
	if !hexID.MatchString(last.Status) {
		t.Fatalf("import ended with %q, want a 64-hex image id", last.Status)
	}
	return last.Status
}

func TestGoClientImageLifecycle(t *testing.T) {
	d := startDaemon(t)
	c := d.goClient()
	ctx := context.Background()

	id := importGo(t, d, "busybox:latest", busyboxTar)

	list, err := c.ImageList(ctx, image.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || len(list[0].RepoTags) != 1 || list[0].RepoTags[0] != "busybox:latest" {
		t.Fatalf("ImageList = %+v, want one busybox:latest with id %s", list, id)
	}
	if list[0].Size < int64(len(busyboxTar))/2 || list[0].Created == 0 {
		t.Fatalf("implausible size/created: %+v", list[0])
	}

	insp, raw, err := c.ImageInspectWithRaw(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if insp.ID != id || insp.Os != "linux" || insp.Architecture != "amd64" || insp.Comment != "Imported from -" {
		t.Fatalf("inspect = %+v", insp)
	}
	if !bytes.Contains(raw, []byte(`"VirtualSize"`)) {
		t.Fatalf("v1.19 inspect lacks VirtualSize: %s", raw)
	}
	// A unique prefix of the id resolves too.
	if got, _, err := c.ImageInspectWithRaw(ctx, id[:12]); err != nil || got.ID != id {
		t.Fatalf("inspect by short id: %v %v", got.ID, err)
	}

	hist, err := c.ImageHistory(ctx, "busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].ID != id || len(hist[0].Tags) != 1 || hist[0].Tags[0] != "busybox:latest" {
		t.Fatalf("history = %+v", hist)
	}

	if err := c.ImageTag(ctx, "busybox", "example.com/team/bb:v1"); err != nil {
		t.Fatal(err)
	}
	insp, _, err = c.ImageInspectWithRaw(ctx, "example.com/team/bb:v1")
	if err != nil || insp.ID != id {
		t.Fatalf("tagged image: %v %v", insp.ID, err)
	}

	// Two tags: removing by name untags only.
	del, err := c.ImageRemove(ctx, "busybox:latest", image.RemoveOptions{PruneChildren: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 1 || del[0].Untagged != "busybox:latest" {
		t.Fatalf("rmi busybox = %+v, want one Untagged row", del)
	}
	// The last tag: untag and delete.
	del, err = c.ImageRemove(ctx, "example.com/team/bb:v1", image.RemoveOptions{PruneChildren: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 2 || del[0].Untagged != "example.com/team/bb:v1" || del[1].Deleted != id {
		t.Fatalf("rmi last tag = %+v, want Untagged then Deleted %s", del, id)
	}
	if list, _ := c.ImageList(ctx, image.ListOptions{All: true}); len(list) != 0 {
		t.Fatalf("images left after rmi: %+v", list)
	}
	// The layer went from the driver too: nothing left below its home but
	// its own bookkeeping.
	if _, _, err := c.ImageInspectWithRaw(ctx, id); err == nil {
		t.Fatal("deleted image still inspectable")
	}
}

func TestGoClientSystem(t *testing.T) {
	d := startDaemon(t)
	c := d.goClient()
	ctx := context.Background()
	v, err := c.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.APIVersion != "1.19" || v.Os != "linux" || v.KernelVersion == "" {
		t.Fatalf("version = %+v", v)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Driver != "overlay" {
		t.Fatalf("Driver = %q, want overlay", info.Driver)
	}
	found := false
	for _, kv := range info.DriverStatus {
		if kv[0] == "Backing Filesystem" && kv[1] != "" {
			found = true
		}
	}
	if !found {
		t.Fatalf("DriverStatus lacks Backing Filesystem: %v", info.DriverStatus)
	}
	if info.DockerRootDir != d.root || info.NCPU < 1 || info.MemTotal <= 0 {
		t.Fatalf("info = %+v", info)
	}
	importGo(t, d, "busybox", busyboxTar)
	info, err = c.Info(ctx)
	if err != nil || info.Images != 1 {
		t.Fatalf("Images after one import = %d (%v)", info.Images, err)
	}
}

// TestCLIImages drives the docker CLI, pinned to 1.19 and negotiating.
func TestCLIImages(t *testing.T) {
	for _, api := range []string{"1.19", ""} {
		name := "negotiated"
		if api != "" {
			name = "pinned-" + api
		}
		t.Run(name, func(t *testing.T) {
			d := startDaemon(t)
			out := d.mustDocker(api, busyboxTar, "import", "-", "busybox:latest")
			id := strings.TrimPrefix(strings.TrimSpace(out), "sha256:")
			if !hexID.MatchString(id) {
				t.Fatalf("docker import printed %q, want an image id", out)
			}

			out = d.mustDocker(api, nil, "images")
			if !regexp.MustCompile(`(?m)^busybox\s+latest\s+` + id[:12] + `\s`).MatchString(out) {
				t.Fatalf("docker images:\n%s", out)
			}

			out = d.mustDocker(api, nil, "inspect", "--format", "{{.Id}} {{.Os}} {{.Comment}}", "busybox")
			if strings.TrimSpace(out) != id+" linux Imported from -" {
				t.Fatalf("docker inspect: %q", out)
			}

			out = d.mustDocker(api, nil, "history", "--no-trunc", "busybox")
			if !strings.Contains(out, id) || !strings.Contains(out, "Imported from -") {
				t.Fatalf("docker history:\n%s", out)
			}

			d.mustDocker(api, nil, "tag", "busybox", "mybox:1")
			out = d.mustDocker(api, nil, "images", "--format", "{{.Repository}}:{{.Tag}}")
			if !strings.Contains(out, "mybox:1") || !strings.Contains(out, "busybox:latest") {
				t.Fatalf("images after tag:\n%s", out)
			}

			out = d.mustDocker(api, nil, "rmi", "mybox:1")
			if !strings.Contains(out, "Untagged: mybox:1") || strings.Contains(out, "Deleted") {
				t.Fatalf("rmi mybox:1:\n%s", out)
			}
			out = d.mustDocker(api, nil, "rmi", "busybox")
			if !strings.Contains(out, "Untagged: busybox:latest") || !strings.Contains(out, "Deleted: "+id) {
				t.Fatalf("rmi busybox:\n%s", out)
			}

			out = d.mustDocker(api, nil, "info")
			if !strings.Contains(out, "Storage Driver: overlay") || !strings.Contains(out, "Backing Filesystem:") {
				t.Fatalf("docker info:\n%s", out)
			}

			out = d.mustDocker(api, nil, "version")
			if !regexp.MustCompile(`(?m)^\s*API version:\s+1\.19\b`).MatchString(out) {
				t.Fatalf("docker version:\n%s", out)
			}
			if out, err := d.docker(api, nil, "inspect", "nosuchimage"); err == nil || !strings.Contains(strings.ToLower(out), "no such") {
				t.Fatalf("inspect of a missing image: err=%v\n%s", err, out)
			}
		})
	}
}

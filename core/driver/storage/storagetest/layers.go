package storagetest

import (
	"errors"
	"os"
	"strings"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

func layerChecks() []check {
	return []check{
		{"CreateExistsRemove", checkCreateExistsRemove},
		{"CreateExisting", checkCreateExisting},
		{"CreateMissingParent", checkCreateMissingParent},
		{"RemoveUnknown", checkRemoveUnknown},
		{"UnknownLayer", checkUnknownLayer},
		{"ContainerLayers", checkContainerLayers},
		{"StorageOptWithoutLayerSize", checkStorageOptWithoutLayerSize},
	}
}

func checkCreateExistsRemove(h *harness) {
	t := h.t
	id := newID()
	if h.exists(id) {
		t.Fatalf("Exists(%s) before Create = true", short(id))
	}
	h.createID(id, "")
	if !h.exists(id) {
		t.Fatalf("Exists(%s) after Create = false", short(id))
	}
	dir := h.get(id)
	if !strings.HasPrefix(dir, "/") {
		t.Errorf("Get returned %q, want an absolute path", dir)
	}
	// A new layer without parent is empty.
	assertDirHolds(t, dir, ".")
	h.put(id)
	h.remove(id)
	if h.exists(id) {
		t.Fatalf("Exists(%s) after Remove = true", short(id))
	}
	// The id is free again.
	h.createID(id, "")
	assertDirHolds(t, h.mount(id), ".")
}

func checkCreateExisting(h *harness) {
	t := h.t
	parent := h.layer("", regular("f", "parent"))
	child := h.create(parent)
	for _, c := range []struct{ id, parent string }{
		{parent, ""},
		{child, parent},
		{child, ""},
	} {
		err := h.d.Create(h.ctx, c.id, c.parent, storage.CreateOptions{})
		if !errors.Is(err, storage.ErrLayerExists) {
			t.Errorf("Create of existing %s (parent %q) = %v, want ErrLayerExists", short(c.id), short(c.parent), err)
		}
	}
	// The failed Create did not touch the layers.
	assertContent(t, h.mount(child), "f", "parent")
}

func checkCreateMissingParent(h *harness) {
	t := h.t
	id := newID()
	err := h.d.Create(h.ctx, id, newID(), storage.CreateOptions{})
	if !errors.Is(err, storage.ErrLayerNotFound) {
		t.Errorf("Create on a missing parent = %v, want ErrLayerNotFound", err)
	}
	if h.exists(id) {
		t.Errorf("Create on a missing parent left layer %s behind", short(id))
	}
}

func checkRemoveUnknown(h *harness) {
	t := h.t
	err := h.d.Remove(h.ctx, newID())
	if !errors.Is(err, storage.ErrLayerNotFound) {
		t.Errorf("Remove of an unknown layer = %v, want ErrLayerNotFound", err)
	}
	if !errdefs.IsNotFound(err) {
		t.Errorf("Remove of an unknown layer = %v, want class not found", err)
	}
}

// checkUnknownLayer: the contract names no sentinel for these, but none
// of them may succeed on a layer that does not exist.
func checkUnknownLayer(h *harness) {
	t := h.t
	ctx, d, id := h.ctx, h.d, newID()
	if dir, err := d.Get(ctx, id, storage.GetOptions{}); err == nil {
		t.Errorf("Get of an unknown layer returned %q, want an error", dir)
	}
	if err := d.Put(ctx, id); err == nil {
		t.Error("Put of an unknown layer succeeded")
	}
	if rc, err := d.Diff(ctx, id, ""); err == nil {
		rc.Close()
		t.Error("Diff of an unknown layer succeeded")
	}
	if _, err := d.Changes(ctx, id, ""); err == nil {
		t.Error("Changes of an unknown layer succeeded")
	}
	if _, err := d.DiffSize(ctx, id, ""); err == nil {
		t.Error("DiffSize of an unknown layer succeeded")
	}
	if _, err := d.ApplyDiff(ctx, id, "", strings.NewReader(string(buildTar(t, regular("f", "x"))))); err == nil {
		t.Error("ApplyDiff into an unknown layer succeeded")
	}
	if h.exists(id) {
		t.Errorf("calls on unknown layer %s created it", short(id))
	}
}

// checkContainerLayers builds what the daemon builds for a container
// (DOCKER17.md §1): an image, "<id>-init" on it with the placeholders
// written through Get, and "<id>" on the init layer.
func checkContainerLayers(h *harness) {
	t := h.t
	image := h.layer("", directory("etc"), regular("etc/os-release", "pluggd"), directory("bin"), regular("bin/sh", "#!"))
	cid := newID()
	h.createID(cid+"-init", image)
	dir := h.get(cid + "-init")
	for _, d := range []string{"dev/pts", "dev/shm", "proc", "sys"} {
		if err := os.MkdirAll(dir+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{".dockerinit", ".dockerenv", "etc/resolv.conf", "etc/hosts", "etc/hostname", "dev/console"} {
		if err := os.WriteFile(dir+"/"+f, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/proc/mounts", dir+"/etc/mtab"); err != nil {
		t.Fatal(err)
	}
	h.put(cid + "-init")
	h.createID(cid, cid+"-init")
	root := h.mount(cid)
	assertContent(t, root, "etc/os-release", "pluggd")
	assertContent(t, root, "bin/sh", "#!")
	assertContent(t, root, "etc/hosts", "")
	if l, err := os.Readlink(root + "/etc/mtab"); err != nil || l != "/proc/mounts" {
		t.Errorf("/etc/mtab: link %q, %v; want /proc/mounts", l, err)
	}
	assertDirHolds(t, root, "dev", "console", "pts", "shm")
	// The container's writes stay in its own layer.
	if err := os.WriteFile(root+"/etc/hosts", []byte("127.0.0.1 c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertContent(t, h.mount(cid+"-init"), "etc/hosts", "")
	assertAbsent(t, h.mount(image), "etc/hosts")
}

func checkStorageOptWithoutLayerSize(h *harness) {
	t := h.t
	if h.info.Capabilities.LayerSize {
		t.Skip("driver reports Capabilities.LayerSize; size options are its own business")
	}
	id := newID()
	err := h.d.Create(h.ctx, id, "", storage.CreateOptions{StorageOpt: map[string]string{"size": "1G"}})
	if !errdefs.IsInvalidParameter(err) {
		t.Errorf("Create with StorageOpt on a driver without LayerSize = %v, want class invalid parameter", err)
	}
	if err == nil {
		return
	}
	if h.exists(id) {
		t.Errorf("refused Create left layer %s behind", short(id))
	}
}

package exectest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pluggd/pluggd/core/archive"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/test/busybox"
	"github.com/pluggd/pluggd/test/require"
)

// requireHost checks what every check needs: root (namespaces, cgroups,
// mounts) and busybox-static for the image.
func requireHost(t testing.TB) {
	t.Helper()
	require.Root(t)
	if _, err := os.Stat(busybox.DefaultBinary); err != nil {
		require.SkipOrFail(t, "busybox", err.Error()+" (install Debian's busybox-static)")
	}
}

// image is the busybox rootfs tar, built once per run and unpacked into a
// fresh directory for every container.
type image []byte

func newImage(t testing.TB) image {
	t.Helper()
	b, err := busybox.Bytes(busybox.Options{})
	if err != nil {
		t.Fatalf("building the busybox image: %v", err)
	}
	return b
}

// rootfs unpacks the image into a new directory removed after t's later
// cleanups (those of the containers using it).
func (img image) rootfs(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := archive.Apply(context.Background(), dir, bytes.NewReader(img), archive.ApplyOptions{}); err != nil {
		t.Fatalf("unpacking the busybox image: %v", err)
	}
	return dir
}

// Rootfs returns a directory holding the busybox test image (package
// test/busybox), removed when t ends, for a driver's own tests beside the
// suite. It skips or fails t as the suite does when busybox-static is
// missing.
func Rootfs(t testing.TB) string {
	t.Helper()
	requireHost(t)
	return newImage(t).rootfs(t)
}

// Spec returns a ContainerSpec for args run in a fresh busybox root
// filesystem (see Rootfs), with a new 64-hex id, PATH set, "/" as working
// directory and a json-file LogPath in a temporary directory. Callers
// adjust the rest.
func Spec(t testing.TB, args ...string) exec.ContainerSpec {
	t.Helper()
	return newSpec(t, Rootfs(t), args)
}

func newSpec(t testing.TB, rootfs string, args []string) exec.ContainerSpec {
	id := newID()
	return exec.ContainerSpec{
		ID:       id,
		Rootfs:   rootfs,
		Hostname: id[:12], // as Docker names a container's host
		Process: exec.Process{
			Args: args,
			// The daemon always passes PATH (Docker 1.7 set this default
			// when the image had none).
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd: "/",
		},
		LogPath: filepath.Join(t.TempDir(), id+"-json.log"),
	}
}

// StateRoot returns a new empty directory for a driver's InitOptions.Root,
// removed when t ends. It is made directly under the system's temporary
// directory, not t.TempDir, whose test-named path would leave too little of
// the 108 bytes a unix socket path may have for the supervisors' sockets.
func StateRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "exec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the state root: %v", err)
		}
	})
	return dir
}

// newID returns an id shaped like the daemon's: 64 lower-case hex digits,
// which makes a driver's paths as long as they are in use.
func newID() string {
	var b [32]byte
	rand.Read(b[:]) // never fails on Linux (crypto/rand)
	return hex.EncodeToString(b[:])
}

// short shortens an id for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func itoa(i int) string { return strconv.Itoa(i) }

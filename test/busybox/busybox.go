package busybox

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultBinary is where Debian's busybox-static package installs busybox.
const DefaultBinary = "/bin/busybox"

// epoch is the mtime of every entry, so the tar does not change with the
// clock.
var epoch = time.Date(2015, 7, 14, 0, 0, 0, 0, time.UTC)

// Options tune the rootfs. The zero value gives the standard test image.
type Options struct {
	// Binary is the busybox executable; DefaultBinary when empty. It must be
	// statically linked, since the image holds no libraries.
	Binary string
	// Padding adds a file /padding of this many pseudo-random bytes, for
	// tests and benchmarks that need a big layer.
	Padding int64
}

// Write writes the rootfs tar to w.
func Write(w io.Writer, opts Options) error {
	bin := opts.Binary
	if bin == "" {
		bin = DefaultBinary
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("busybox: %w (install Debian's busybox-static)", err)
	}
	applets, err := listApplets(bin)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	dirs := []string{"bin", "dev", "etc", "home", "proc", "root", "sbin", "sys", "tmp", "usr", "usr/bin", "usr/sbin", "var", "var/log", "var/tmp"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp" || d == "var/tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if err := writeFile(tw, "bin/busybox", 0o755, data); err != nil {
		return err
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
		"etc/group":    "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n",
		"etc/hostname": "busybox\n",
	}
	for _, name := range sortedKeys(files) {
		if err := writeFile(tw, name, 0o644, []byte(files[name])); err != nil {
			return err
		}
	}
	for _, a := range applets {
		if a == "bin/busybox" {
			continue
		}
		// Relative links keep the image usable wherever it is mounted.
		target, err := filepath.Rel(path.Dir(a), "bin/busybox")
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: a, Linkname: target, Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if opts.Padding > 0 {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "padding", Mode: 0o644, Size: opts.Padding, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, newNoise(), opts.Padding); err != nil {
			return err
		}
	}
	return tw.Close()
}

// Bytes returns the rootfs tar in memory.
func Bytes(opts Options) ([]byte, error) {
	var buf bytes.Buffer
	if err := Write(&buf, opts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// listApplets asks busybox where each applet belongs ("usr/bin/env").
func listApplets(bin string) ([]string, error) {
	out, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	seen := map[string]bool{}
	var applets []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || seen[l] || strings.Contains(l, "..") {
			continue
		}
		seen[l] = true
		applets = append(applets, l)
	}
	sort.Strings(applets)
	return applets, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// noise is a cheap deterministic byte stream (xorshift), so padding does not
// compress away and does not depend on crypto/rand's speed.
type noise struct{ s uint64 }

func newNoise() *noise { return &noise{s: 0x9e3779b97f4a7c15} }

func (n *noise) Read(p []byte) (int, error) {
	for i := range p {
		n.s ^= n.s << 13
		n.s ^= n.s >> 7
		n.s ^= n.s << 17
		p[i] = byte(n.s >> 32)
	}
	return len(p), nil
}

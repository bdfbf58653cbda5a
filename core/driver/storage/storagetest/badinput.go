package storagetest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/errdefs"
	"golang.org/x/sys/unix"
)

func badInputChecks() []check {
	return []check{
		{"DotDot", escapeCheck(func(p *escapeProbe) []tarEntry {
			return []tarEntry{
				regular("../"+p.marker, "escaped"),
				regular("../../"+p.marker, "escaped"),
				regular(p.up+strings.TrimPrefix(p.sentinel, "/")+"/dotdot", "escaped"),
			}
		})},
		{"DotDotInside", escapeCheck(func(p *escapeProbe) []tarEntry {
			return []tarEntry{
				directory("a"),
				regular("a/../../"+p.marker, "escaped"),
				regular("a/b/../../../"+p.marker, "escaped"),
			}
		})},
		{"AbsolutePaths", escapeCheck(func(p *escapeProbe) []tarEntry {
			return []tarEntry{
				regular(p.sentinel+"/absolute", "escaped"),
				regular("/"+p.marker, "escaped"),
			}
		})},
		{"SymlinkRelativeEscape", escapeCheck(func(p *escapeProbe) []tarEntry {
			return []tarEntry{
				symlink("evil", p.up+strings.TrimPrefix(p.sentinel, "/")),
				regular("evil/through-relative-symlink", "escaped"),
				directory("evil/dir-through-symlink"),
			}
		})},
		{"SymlinkAbsoluteEscape", escapeCheck(func(p *escapeProbe) []tarEntry {
			return []tarEntry{
				symlink("evil", p.sentinel),
				regular("evil/through-absolute-symlink", "escaped"),
				directory("d"),
				symlink("d/up", "../.."),
				regular("d/up/"+p.marker, "escaped"),
			}
		})},
		{"SymlinkReplacedByFile", escapeCheck(func(p *escapeProbe) []tarEntry {
			// Writing a file over a symlink must replace the link, not
			// write to its target.
			return []tarEntry{
				symlink("victim", p.sentinelFile),
				regular("victim", "escaped"),
			}
		})},
		{"HardlinkEscape", escapeCheck(func(p *escapeProbe) []tarEntry {
			return []tarEntry{
				hardlink("hl", p.up+strings.TrimPrefix(p.sentinelFile, "/")),
				hardlink("hl2", "../../"+p.marker),
				hardlink("hl3", p.sentinelFile),
			}
		})},
		{"HardlinkThenWrite", escapeCheck(func(p *escapeProbe) []tarEntry {
			return []tarEntry{
				hardlink("hl", p.up+strings.TrimPrefix(p.sentinelFile, "/")),
				regular("hl", "escaped"),
			}
		})},
		{"HardlinkThroughSymlink", escapeCheck(func(p *escapeProbe) []tarEntry {
			return []tarEntry{
				symlink("evil", filepath.Dir(p.sentinelFile)),
				hardlink("hl", "evil/"+filepath.Base(p.sentinelFile)),
				regular("hl", "escaped"),
			}
		})},
		{"Truncated", checkTruncated},
		{"NotATar", checkNotATar},
	}
}

// escapeProbe is what a hostile layer aims at: a marker file name that
// must not appear in any directory above the layer, a sentinel directory
// that must stay empty and a sentinel file that must stay unchanged.
type escapeProbe struct {
	marker       string
	sentinel     string
	sentinelFile string
	// up climbs to / from any directory less than 64 levels deep.
	up string
}

func newEscapeProbe(t *testing.T) *escapeProbe {
	var b [8]byte
	_, _ = rand.Read(b[:])
	p := &escapeProbe{
		marker:   "pluggd-escape-" + hex.EncodeToString(b[:]),
		sentinel: t.TempDir(),
		up:       strings.Repeat("../", 64),
	}
	p.sentinelFile = filepath.Join(t.TempDir(), "sentinel")
	must(t, os.WriteFile(p.sentinelFile, []byte("sentinel"), 0o644))
	t.Cleanup(func() {
		// In case a driver did write outside, do not leave it behind.
		_ = os.Remove("/" + p.marker)
	})
	return p
}

// verify checks nothing escaped from layers whose mounts are roots.
func (p *escapeProbe) verify(t testing.TB, roots ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, root := range roots {
		for dir := filepath.Dir(root); !seen[dir]; dir = filepath.Dir(dir) {
			seen[dir] = true
			if _, err := os.Lstat(filepath.Join(dir, p.marker)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a file escaped the layer: %s exists (%v)", filepath.Join(dir, p.marker), err)
				_ = os.RemoveAll(filepath.Join(dir, p.marker))
			}
		}
	}
	if des, err := os.ReadDir(p.sentinel); err != nil || len(des) != 0 {
		t.Errorf("a file escaped the layer into %s: %v %v", p.sentinel, des, err)
	}
	b, err := os.ReadFile(p.sentinelFile)
	if err != nil || string(b) != "sentinel" {
		t.Errorf("the file %s outside the layer was changed: %q %v", p.sentinelFile, b, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p.sentinelFile, &st); err == nil && st.Nlink != 1 {
		t.Errorf("the file %s outside the layer got hardlinked into it (link count %d)", p.sentinelFile, st.Nlink)
	}
}

// escapeCheck applies the hostile entries to a layer without parent and to
// one with a parent. ApplyDiff may refuse them (class invalid parameter)
// or keep them inside the layer; either way nothing outside may change,
// and the daemon must then be able to remove the layer.
func escapeCheck(hostile func(p *escapeProbe) []tarEntry) func(h *harness) {
	return func(h *harness) {
		parent := h.layer("", regular("parentfile", "P"), directory("a"))
		for _, pos := range []struct{ name, parent string }{{"base", ""}, {"child", parent}} {
			h.t.Run(pos.name, func(t *testing.T) {
				h := h.sub(t)
				p := newEscapeProbe(t)
				id := h.create(pos.parent)
				root := h.get(id)
				h.put(id)
				_, err := h.d.ApplyDiff(h.ctx, id, pos.parent, bytes.NewReader(buildTar(t, hostile(p)...)))
				if err != nil && !errdefs.IsInvalidParameter(err) {
					t.Errorf("ApplyDiff of a hostile layer = %v, want success or class invalid parameter", err)
				}
				roots := []string{root}
				if err == nil {
					roots = append(roots, h.get(id))
					h.put(id)
				}
				p.verify(t, roots...)
				h.remove(id)
				if pos.parent != "" {
					assertContent(t, h.mount(pos.parent), "parentfile", "P")
				}
			})
		}
	}
}

func checkTruncated(h *harness) {
	t := h.t
	whole := buildTar(t, regular("first", "1"), regular("big", strings.Repeat("b", 10000)))
	for _, cut := range []int{3 * 512, 2*512 + 300, 512 + 100} {
		id := h.create("")
		_, err := h.d.ApplyDiff(h.ctx, id, "", bytes.NewReader(whole[:cut]))
		if !errdefs.IsInvalidParameter(err) {
			t.Errorf("ApplyDiff of a tar cut at byte %d = %v, want class invalid parameter", cut, err)
		}
		h.remove(id)
	}
}

func checkNotATar(h *harness) {
	t := h.t
	id := h.create("")
	_, err := h.d.ApplyDiff(h.ctx, id, "", bytes.NewReader(bytes.Repeat([]byte("not a tar stream\n"), 200)))
	if !errdefs.IsInvalidParameter(err) {
		t.Errorf("ApplyDiff of text = %v, want class invalid parameter", err)
	}
	h.remove(id)
}

package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzApply feeds arbitrary streams to Apply and checks that nothing is
// ever written outside the target directory, whatever the outcome.
func FuzzApply(f *testing.F) {
	seeds := [][]ent{
		{file("../x", "e")},
		{symlink("a", "/etc"), file("a/passwd", "e")},
		{symlink("b", "../../.."), file("b/x", "e")},
		{symlink("b", ".."), dir("b/sub/"), file("b/sub/x", "e")},
		{hardlink("h", "../../etc/passwd")},
		{symlink("s", "../outside/secret"), hardlink("h", "s"), file("s", "overwrite")},
		{dir("d/"), file("d/.wh..wh..opq", ""), file(".wh.d", ""), dir("d/"), file("d/f", "f")},
		{symlink("w", ".."), file("w/.wh.outside", "")},
		{file("/abs", "a"), dir("./"), file("x", "x")},
	}
	for _, s := range seeds {
		f.Add(buildTar(f, s, nil), false)
		f.Add(buildTar(f, s, nil), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, overlay bool) {
		// A tar header can announce a huge file (or sparse map) in a few
		// bytes; writing it proves nothing here.
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Size > 1<<20 || h.Typeflag == tar.TypeGNUSparse {
				t.Skip("large or sparse entry")
			}
		}
		base := t.TempDir()
		root := filepath.Join(base, "in", "layer")
		outside := filepath.Join(base, "in", "outside")
		os.MkdirAll(root, 0o755)
		os.MkdirAll(outside, 0o755)
		os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
		before := outsideOf(listTree(t, base))

		mode := WhiteoutsDelete
		if overlay {
			mode = WhiteoutsOverlay
		}
		Apply(context.Background(), root, bytes.NewReader(data), ApplyOptions{Whiteouts: mode, MetadataPath: filepath.Join(base, "meta")})

		after := outsideOf(listTree(t, base))
		after = slices.DeleteFunc(after, func(p string) bool { return p == "meta" })
		if !slices.Equal(before, after) {
			t.Fatalf("paths outside the layer changed: before %v, after %v", before, after)
		}
		if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "s" {
			t.Fatalf("outside file changed: %q, %v", b, err)
		}
		var st os.FileInfo
		if st, _ = os.Lstat(filepath.Join(outside, "secret")); st == nil || st.Mode() != 0o600 {
			t.Fatalf("outside file's mode changed: %v", st)
		}
	})
}

func outsideOf(paths []string) []string {
	var out []string
	for _, p := range paths {
		if !strings.HasPrefix(p, "in/layer/") {
			out = append(out, p)
		}
	}
	return out
}

package aufs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pluggd/pluggd/core/driver/storage"
)

func TestBranchOptionsFitInOnePage(t *testing.T) {
	first, appends := branchOptions("/h/diff/c", []string{"/h/diff/b", "/h/diff/a"}, "", false, 4096)
	if want := "br:/h/diff/c=rw:/h/diff/b=ro+wh:/h/diff/a=ro+wh,dio,xino=/dev/shm/aufs.xino"; first != want {
		t.Errorf("first = %q, want %q", first, want)
	}
	if len(appends) != 0 {
		t.Errorf("appends = %q, want none", appends)
	}
	first, _ = branchOptions("/r", nil, "system_u:object_r:svirt_sandbox_file_t:s0", true, 4096)
	if want := `br:/r=rw,dio,xino=/dev/shm/aufs.xino,dirperm1,context="system_u:object_r:svirt_sandbox_file_t:s0"`; first != want {
		t.Errorf("labelled first = %q, want %q", first, want)
	}
}

func TestBranchOptionsSplitLongChains(t *testing.T) {
	var ro []string
	for i := range 126 {
		ro = append(ro, "/var/lib/pluggd/aufs/diff/"+strings.Repeat("0", 60)+string(rune('a'+i%26))+strings.Repeat("x", i%3))
	}
	for _, tc := range []struct {
		label    string
		dirperm1 bool
	}{{"", false}, {"", true}, {"s0:c1,c2", true}} {
		first, appends := branchOptions("/rw", ro, tc.label, tc.dirperm1, 4096)
		limit := 4096 - len(tc.label) - 54
		if tc.dirperm1 {
			limit -= 8
		}
		brList, _, _ := strings.Cut(first, ",dio,")
		if len(brList) > limit {
			t.Errorf("%+v: branch list is %d bytes, cap %d", tc, len(brList), limit)
		}
		if len(first) > 4096 {
			t.Errorf("%+v: mount data is %d bytes, more than a page", tc, len(first))
		}
		// Every branch exactly once, in order: the first mount's, then
		// the appended ones (Docker 1.7 lost the first that did not fit).
		got := strings.Split(strings.TrimPrefix(brList, "br:/rw=rw:"), ":")
		if len(appends) == 0 {
			t.Fatalf("%+v: a 126-branch chain fitted in one page", tc)
		}
		for _, a := range appends {
			if tc.label != "" && !strings.HasSuffix(a, `,context="`+tc.label+`"`) {
				t.Errorf("append %q lacks the label", a)
			}
			br, _, _ := strings.Cut(strings.TrimPrefix(a, "append:"), ",")
			if !strings.HasPrefix(a, "append:") {
				t.Errorf("append %q does not start with append:", a)
			}
			got = append(got, br)
		}
		var want []string
		for _, r := range ro {
			want = append(want, r+"=ro+wh")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: branches differ from the chain (%d vs %d)", tc, len(got), len(want))
		}
	}
}

func TestLayersFile(t *testing.T) {
	if got := layersContent("", nil); got != "" {
		t.Errorf("base layer content %q, want empty", got)
	}
	c := layersContent("p", []string{"gp", "ggp"})
	if c != "p\ngp\nggp\n" {
		t.Errorf("content %q", c)
	}
	if got := parseLayers(c); !reflect.DeepEqual(got, []string{"p", "gp", "ggp"}) {
		t.Errorf("parse = %q", got)
	}
	if parseLayers("") != nil || parseLayers("\n") != nil {
		t.Error("an empty file has ancestors")
	}
	if !isChildOf(c, "p") || isChildOf(c, "gp") || isChildOf("", "p") {
		t.Error("isChildOf is wrong")
	}
	for _, bad := range []string{"", ".x", "a/b", "x-removing", "a\nb"} {
		if validID(bad) == nil {
			t.Errorf("id %q accepted", bad)
		}
	}
}

func TestStatusPairs(t *testing.T) {
	got := statusPairs("/var/lib/pluggd/aufs", "extfs", 3, true)
	want := []storage.StatusPair{{Key: "Root Dir", Value: "/var/lib/pluggd/aufs"}, {Key: "Backing Filesystem", Value: "extfs"}, {Key: "Dirs", Value: "3"}, {Key: "Dirperm1 Supported", Value: "true"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status = %v", got)
	}
}

func TestListsAufs(t *testing.T) {
	if listsAufs("nodev\tsysfs\n\text4\nnodev\toverlay\n") {
		t.Error("aufs found where it is not")
	}
	if !listsAufs("nodev\tsysfs\nnodev\taufs\n") {
		t.Error("aufs not found")
	}
}

func TestIsAufsMeta(t *testing.T) {
	for name, want := range map[string]bool{
		".wh..wh.plnk/": true, ".wh..wh.plnk/123.45": true, "a/.wh..wh.aufs": true,
		".wh..wh.orph/": true, "a/.wh..wh..opq": false, ".wh.foo": false, "etc/passwd": false,
	} {
		if got := isAufsMeta(name); got != want {
			t.Errorf("isAufsMeta(%q) = %v, want %v", name, got, want)
		}
	}
}

// mk builds a tree: "d/" a directory, "f" an empty file, "f=x" content.
func mk(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		name, content, _ := strings.Cut(p, "=")
		full := filepath.Join(root, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChangesReadAufsWhiteouts(t *testing.T) {
	base := t.TempDir()
	lower1, lower2, upper := filepath.Join(base, "l1"), filepath.Join(base, "l2"), filepath.Join(base, "up")
	// lower2 is the base layer; lower1 deletes /gone-in-l1 from it.
	mk(t, lower2, "etc/", "etc/passwd=root", "etc/old=1", "opq/", "opq/a", "opq/sub/b", "gone-in-l1")
	mk(t, lower1, "etc/", "etc/l1file", ".wh.gone-in-l1")
	mk(t, upper, "etc/", "etc/passwd=root2", "etc/.wh.old", "new/", "new/x",
		"opq/", "opq/"+whOpaque, "opq/a", ".wh..wh.plnk/", "gone-in-l1", ".wh.nothing")
	// etc/ keeps its mode and owner: not modified by itself.
	got, err := aufsChanges(context.Background(), upper, []string{lower1, lower2})
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Change{
		{Path: "/etc", Kind: storage.ChangeModify},
		{Path: "/etc/old", Kind: storage.ChangeDelete},
		{Path: "/etc/passwd", Kind: storage.ChangeModify},
		{Path: "/gone-in-l1", Kind: storage.ChangeAdd},
		{Path: "/new", Kind: storage.ChangeAdd},
		{Path: "/new/x", Kind: storage.ChangeAdd},
		{Path: "/nothing", Kind: storage.ChangeDelete},
		{Path: "/opq", Kind: storage.ChangeModify},
		{Path: "/opq/a", Kind: storage.ChangeModify},
		{Path: "/opq/sub", Kind: storage.ChangeDelete},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n got %v\nwant %v", got, want)
	}

	// Below an opaque directory, at any depth: held again → modified (or
	// unchanged for a directory), added, or deleted when only the parents
	// show it (storagetest's Changes/BelowOpaque, on plain directories).
	deep := filepath.Join(base, "deep")
	mk(t, filepath.Join(deep, "p"), "dir/", "dir/a", "dir/sub/b", "dir/sub/c", "dir/sub/deep/d", "dir/gone/g")
	mk(t, filepath.Join(deep, "u"), "dir/", "dir/"+whOpaque, "dir/sub/b=new", "dir/sub/deep/e", "dir/n")
	got, err = aufsChanges(context.Background(), filepath.Join(deep, "u"), []string{filepath.Join(deep, "p")})
	if err != nil {
		t.Fatal(err)
	}
	want = []storage.Change{
		{Path: "/dir", Kind: storage.ChangeModify},
		{Path: "/dir/a", Kind: storage.ChangeDelete},
		{Path: "/dir/gone", Kind: storage.ChangeDelete},
		{Path: "/dir/n", Kind: storage.ChangeAdd},
		{Path: "/dir/sub", Kind: storage.ChangeModify},
		{Path: "/dir/sub/b", Kind: storage.ChangeModify},
		{Path: "/dir/sub/c", Kind: storage.ChangeDelete},
		{Path: "/dir/sub/deep", Kind: storage.ChangeModify},
		{Path: "/dir/sub/deep/d", Kind: storage.ChangeDelete},
		{Path: "/dir/sub/deep/e", Kind: storage.ChangeAdd},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes below an opaque directory:\n got %v\nwant %v", got, want)
	}

	// No parents: everything is an addition, whiteouts delete nothing.
	got, err = aufsChanges(context.Background(), lower2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.Kind != storage.ChangeAdd {
			t.Errorf("base layer change %v is not an addition", c)
		}
	}
}

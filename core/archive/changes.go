package archive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
)

// collector gathers changes without duplicates. A directory holding a
// change is itself reported as modified (Docker's rule: "if /foo/bar/file
// is added, /foo/bar is part of the changes").
type collector struct {
	idx     map[string]int
	changes []storage.Change
}

func newCollector() *collector { return &collector{idx: map[string]int{}} }

func (c *collector) add(rel string, kind storage.ChangeKind) {
	p := "/" + rel
	if i, ok := c.idx[p]; ok {
		if kind != storage.ChangeModify {
			c.changes[i].Kind = kind
		}
		return
	}
	c.idx[p] = len(c.changes)
	c.changes = append(c.changes, storage.Change{Path: p, Kind: kind})
}

func (c *collector) has(rel string) bool { _, ok := c.idx["/"+rel]; return ok }

// parentChanged records rel's directory as modified, unless it is the
// root or already recorded (as an addition, say).
func (c *collector) parentChanged(rel string) {
	parent, _ := splitRel(rel)
	if parent != "" && !c.has(parent) {
		c.add(parent, storage.ChangeModify)
	}
}

func (c *collector) sorted() []storage.Change {
	sort.Slice(c.changes, func(i, j int) bool { return c.changes[i].Path < c.changes[j].Path })
	return c.changes
}

func lstat(p string) (unix.Stat_t, bool) {
	var st unix.Stat_t
	return st, unix.Lstat(p, &st) == nil
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

func isOverlayWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// OverlayChanges lists the changes an overlayfs upper dir makes to its
// lower dirs (nearest first), sorted by path: a path is added when no
// lower shows it, modified when one does; a whiteout is a deletion; an
// opaque directory is modified (added if new) and every path of the lowers
// it hides, and that the upper does not hold again, is deleted. Lower
// visibility follows overlayfs: a whiteout or a non-directory hides
// everything below it in deeper lowers, and so does an opaque directory.
func OverlayChanges(ctx context.Context, upper string, lowers []string) ([]storage.Change, error) {
	c := newCollector()
	oc := &overlayChanges{ctx: ctx, upper: upper, c: c}
	if err := oc.walk("", lowers, false); err != nil {
		return nil, err
	}
	return c.sorted(), nil
}

type overlayChanges struct {
	ctx   context.Context
	upper string
	c     *collector
}

// lowerLookup finds child in the lowers where its parent directory is
// visible (layers, nearest first): whether it exists in the merged lower
// view, its stat there, and the lowers where it is a visible directory.
func lowerLookup(layers []string, child string) (st unix.Stat_t, exists bool, dirLayers []string) {
	found := false
	for _, l := range layers {
		lst, ok := lstat(filepath.Join(l, child))
		if !ok {
			continue
		}
		if !found {
			found = true
			if isOverlayWhiteout(&lst) {
				return st, false, nil
			}
			st, exists = lst, true
		}
		if isOverlayWhiteout(&lst) || !isDir(&lst) {
			break
		}
		dirLayers = append(dirLayers, l)
		if isOpaque(filepath.Join(l, child)) {
			break
		}
	}
	if exists && !isDir(&st) {
		dirLayers = nil
	}
	return st, exists, dirLayers
}

// lowerNames lists the visible names in a directory of the merged lowers.
func lowerNames(layers []string, rel string) map[string]bool {
	names := map[string]bool{}
	for _, l := range layers {
		ents, err := readDirSorted(filepath.Join(l, rel))
		if err != nil {
			continue
		}
		for _, n := range ents {
			if _, seen := names[n]; seen {
				continue
			}
			st, ok := lstat(filepath.Join(l, rel, n))
			names[n] = ok && !isOverlayWhiteout(&st)
		}
	}
	for n, visible := range names {
		if !visible {
			delete(names, n)
		}
	}
	return names
}

// walk reports the changes below rel; hidden says rel is below an opaque
// directory of the upper.
func (oc *overlayChanges) walk(rel string, layers []string, hidden bool) error {
	names, err := readDirSorted(filepath.Join(oc.upper, rel))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := oc.ctx.Err(); err != nil {
			return err
		}
		child := join(rel, n)
		full := filepath.Join(oc.upper, child)
		st, ok := lstat(full)
		if !ok {
			continue
		}
		if isOverlayWhiteout(&st) {
			oc.c.add(child, storage.ChangeDelete)
			oc.c.parentChanged(child)
			continue
		}
		lst, inLower, childLayers := lowerLookup(layers, child)
		if !inLower {
			oc.c.add(child, storage.ChangeAdd)
			oc.c.parentChanged(child)
		} else if !isDir(&st) || !isDir(&lst) || !sameMeta(full, &st, filepath.Join(layerOf(layers, child), child), &lst) {
			oc.c.add(child, storage.ChangeModify)
		}
		if !isDir(&st) {
			continue
		}
		// Below an opaque directory nothing comes from the lowers: what
		// they held and the upper does not is deleted, at every depth.
		hide := hidden || isOpaque(full)
		if hide {
			if inLower {
				oc.c.add(child, storage.ChangeModify)
			}
			for name := range lowerNames(childLayers, child) {
				if _, ok := lstat(filepath.Join(full, name)); !ok {
					oc.c.add(join(child, name), storage.ChangeDelete)
				}
			}
		}
		if err := oc.walk(child, childLayers, hide); err != nil {
			return err
		}
	}
	return nil
}

// layerOf returns the nearest lower holding child (only called when one
// does).
func layerOf(layers []string, child string) string {
	for _, l := range layers {
		if _, ok := lstat(filepath.Join(l, child)); ok {
			return l
		}
	}
	return ""
}

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// sameMeta compares what Docker's change detection compares: type and
// mode, owner, device number, xattrs and, for non-directories, size and
// mtime (a directory's size and mtime change with its content, which is
// reported on its own).
func sameMeta(aPath string, a *unix.Stat_t, bPath string, b *unix.Stat_t) bool {
	if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Rdev != b.Rdev {
		return false
	}
	if !isDir(a) && (a.Size != b.Size || a.Mtim != b.Mtim) {
		return false
	}
	if a.Mode&unix.S_IFMT == unix.S_IFLNK {
		ta, _ := os.Readlink(aPath)
		tb, _ := os.Readlink(bPath)
		if ta != tb {
			return false
		}
	}
	xa, _ := readXattrs(aPath)
	xb, _ := readXattrs(bPath)
	if len(xa) != len(xb) {
		return false
	}
	for k, v := range xa {
		if w, ok := xb[k]; !ok || !bytes.Equal([]byte(v), []byte(w)) {
			return false
		}
	}
	return true
}

// Changes compares two full trees: what changed from oldDir to newDir,
// sorted by path. With oldDir "" every path of newDir is an addition. A
// deleted directory is one deletion (its content is not listed); an added
// directory's content is listed as additions.
func Changes(ctx context.Context, newDir, oldDir string) ([]storage.Change, error) {
	c := newCollector()
	tc := &treeChanges{ctx: ctx, newDir: newDir, oldDir: oldDir, c: c}
	if _, err := tc.compare(""); err != nil {
		return nil, err
	}
	return c.sorted(), nil
}

type treeChanges struct {
	ctx            context.Context
	newDir, oldDir string
	c              *collector
}

// compare reports the changes inside directory rel and whether there were
// any.
func (tc *treeChanges) compare(rel string) (bool, error) {
	newNames, err := readDirSorted(filepath.Join(tc.newDir, rel))
	if err != nil {
		return false, err
	}
	var oldNames []string
	if tc.oldDir != "" {
		if st, ok := lstat(filepath.Join(tc.oldDir, rel)); ok && isDir(&st) {
			if oldNames, err = readDirSorted(filepath.Join(tc.oldDir, rel)); err != nil {
				return false, err
			}
		}
	}
	inNew := map[string]bool{}
	for _, n := range newNames {
		inNew[n] = true
	}
	changed := false
	for _, n := range oldNames {
		if !inNew[n] {
			tc.c.add(join(rel, n), storage.ChangeDelete)
			changed = true
		}
	}
	for _, n := range newNames {
		if err := tc.ctx.Err(); err != nil {
			return false, err
		}
		child := join(rel, n)
		np := filepath.Join(tc.newDir, child)
		nst, ok := lstat(np)
		if !ok {
			continue
		}
		var ost unix.Stat_t
		inOld := false
		if tc.oldDir != "" && oldNames != nil {
			op := filepath.Join(tc.oldDir, child)
			ost, inOld = lstat(op)
			if inOld && !sameMeta(np, &nst, op, &ost) {
				tc.c.add(child, storage.ChangeModify)
				changed = true
			}
		}
		if !inOld {
			tc.c.add(child, storage.ChangeAdd)
			changed = true
		}
		if isDir(&nst) {
			sub, err := tc.compare(child)
			if err != nil {
				return false, err
			}
			if sub && !tc.c.has(child) {
				tc.c.add(child, storage.ChangeModify)
			}
			changed = changed || sub
		}
	}
	return changed, nil
}

// ChangesSize is the size in bytes of the files that changes add or
// modify in dir; directories count nothing and a file with several names
// counts once (Docker's ChangesSize).
func ChangesSize(ctx context.Context, dir string, changes []storage.Change) (int64, error) {
	seen := map[devIno]bool{}
	var size int64
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if c.Kind == storage.ChangeDelete {
			continue
		}
		st, ok := lstat(filepath.Join(dir, c.Path))
		if !ok || isDir(&st) {
			continue
		}
		size += countOnce(seen, &st)
	}
	return size, nil
}

func countOnce(seen map[devIno]bool, st *unix.Stat_t) int64 {
	if st.Nlink > 1 {
		k := devIno{uint64(st.Dev), st.Ino}
		if seen[k] {
			return 0
		}
		seen[k] = true
	}
	return st.Size
}

// DirSize is the size in bytes of the non-directories below dir, each
// inode counted once.
func DirSize(ctx context.Context, dir string) (int64, error) {
	seen := map[devIno]bool{}
	var size int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if st, ok := lstat(p); ok {
			size += countOnce(seen, &st)
		}
		return nil
	})
	return size, err
}

package aufs

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pluggd/pluggd/core/driver/storage"
)

// aufsChanges lists what the diff dir upper changes over the diff dirs
// lowers (nearest first), reading aufs whiteouts on plain directories, in
// the contract's terms: ".wh.X" deletes X; a file or a directory whose
// metadata differs from the lowers' is a modification; anything the lowers
// do not show is an addition; the directory holding a change is modified;
// below an opaque directory, at any depth, what the lowers showed and the
// layer does not hold again is deleted.
func aufsChanges(ctx context.Context, upper string, lowers []string) ([]storage.Change, error) {
	c := &changeSet{idx: map[string]storage.ChangeKind{}}
	if err := walkAufs(ctx, c, upper, "", lowers, false); err != nil {
		return nil, err
	}
	return c.sorted(), nil
}

type changeSet struct{ idx map[string]storage.ChangeKind }

func (c *changeSet) add(rel string, k storage.ChangeKind) {
	if old, ok := c.idx[rel]; ok && k == storage.ChangeModify {
		k = old
	}
	c.idx[rel] = k
}

func (c *changeSet) parentChanged(rel string) {
	if dir := filepath.Dir(rel); dir != "." {
		if _, ok := c.idx[dir]; !ok {
			c.idx[dir] = storage.ChangeModify
		}
	}
}

func (c *changeSet) sorted() []storage.Change {
	out := make([]storage.Change, 0, len(c.idx))
	for p, k := range c.idx {
		out = append(out, storage.Change{Path: "/" + p, Kind: k})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func lstatOK(p string) (unix.Stat_t, bool) {
	var st unix.Stat_t
	return st, unix.Lstat(p, &st) == nil
}

func isDirStat(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

func exists(p string) bool { _, ok := lstatOK(p); return ok }

// lookup finds rel in the lowers where its directory is visible: its stat
// in the nearest lower holding it, and the lowers where it is a visible
// directory (stopping at an opaque one). A whiteout in a nearer lower
// hides it.
func lookup(lowers []string, rel string) (st unix.Stat_t, found bool, dirLayers []string) {
	wh := filepath.Join(filepath.Dir(rel), whPrefix+filepath.Base(rel))
	for _, l := range lowers {
		lst, ok := lstatOK(filepath.Join(l, rel))
		if !ok {
			if !found && exists(filepath.Join(l, wh)) {
				return st, false, nil
			}
			continue
		}
		if !found {
			st, found = lst, true
		}
		if !isDirStat(&lst) {
			break
		}
		dirLayers = append(dirLayers, l)
		if exists(filepath.Join(l, rel, whOpaque)) {
			break
		}
	}
	if found && !isDirStat(&st) {
		dirLayers = nil
	}
	return st, found, dirLayers
}

// visibleNames lists the names the lowers show in directory rel.
func visibleNames(lowers []string, rel string) map[string]bool {
	names := map[string]bool{}
	for _, l := range lowers {
		ents, _ := os.ReadDir(filepath.Join(l, rel))
		for _, e := range ents {
			n := e.Name()
			switch {
			case strings.HasPrefix(n, whMeta):
			case strings.HasPrefix(n, whPrefix):
				if _, seen := names[strings.TrimPrefix(n, whPrefix)]; !seen {
					names[strings.TrimPrefix(n, whPrefix)] = false
				}
			default:
				if _, seen := names[n]; !seen {
					names[n] = true
				}
			}
		}
	}
	for n, v := range names {
		if !v {
			delete(names, n)
		}
	}
	return names
}

// walkAufs records the changes of directory rel of upper over the lowers
// in which rel is a visible directory. Below an opaque directory (opaque)
// the lowers are still those the parent showed, but nothing of theirs
// shows through: every name they show that upper does not hold is
// deleted, at every depth.
func walkAufs(ctx context.Context, c *changeSet, upper, rel string, lowers []string, opaque bool) error {
	ents, err := os.ReadDir(filepath.Join(upper, rel))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := e.Name()
		child := filepath.Join(rel, n)
		switch {
		case strings.HasPrefix(n, whMeta):
			// The opaque marker is handled with its directory; the rest
			// is aufs' bookkeeping.
			continue
		case strings.HasPrefix(n, whPrefix):
			target := filepath.Join(rel, strings.TrimPrefix(n, whPrefix))
			if !exists(filepath.Join(upper, target)) {
				c.add(target, storage.ChangeDelete)
				c.parentChanged(target)
			}
			continue
		}
		full := filepath.Join(upper, child)
		st, ok := lstatOK(full)
		if !ok {
			continue
		}
		lst, inLower, childLayers := lookup(lowers, child)
		switch {
		case !inLower:
			c.add(child, storage.ChangeAdd)
			c.parentChanged(child)
		case !isDirStat(&st) || !isDirStat(&lst) || st.Mode != lst.Mode || st.Uid != lst.Uid || st.Gid != lst.Gid:
			c.add(child, storage.ChangeModify)
			c.parentChanged(child)
		}
		if !isDirStat(&st) {
			continue
		}
		childOpaque := opaque || exists(filepath.Join(full, whOpaque))
		if childOpaque && !opaque && inLower {
			// The directory made opaque hides what it held: modified.
			c.add(child, storage.ChangeModify)
		}
		if err := walkAufs(ctx, c, upper, child, childLayers, childOpaque); err != nil {
			return err
		}
	}
	if opaque {
		for name := range visibleNames(lowers, rel) {
			p := filepath.Join(rel, name)
			if !exists(filepath.Join(upper, p)) {
				c.add(p, storage.ChangeDelete)
				c.parentChanged(p)
			}
		}
	}
	return nil
}

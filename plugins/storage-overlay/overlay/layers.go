package overlay

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

const (
	linkDir    = "l"
	tmpPrefix  = ".tmp-"
	metaFile   = "tar-split.json.gz"
	metaParent = "tar-split.parent"
)

func (d *Driver) dir(id string) string     { return filepath.Join(d.home, id) }
func (d *Driver) diffDir(id string) string { return filepath.Join(d.home, id, "diff") }

// validID refuses ids that would name something other than a layer
// directory: the daemon chooses ids, but a path must never come from one.
func validID(id string) error {
	if id == "" || id == linkDir || strings.ContainsAny(id, "/\x00") || strings.HasPrefix(id, ".") || strings.HasSuffix(id, removingSuffix) {
		return errdefs.InvalidParameter(fmt.Errorf("overlay: invalid layer id %q", id))
	}
	return nil
}

// checkLayer returns ErrLayerNotFound for an unknown id.
func (d *Driver) checkLayer(id string) error {
	if err := validID(id); err != nil {
		return fmt.Errorf("layer %q: %w", id, storage.ErrLayerNotFound)
	}
	if _, err := os.Stat(d.dir(id)); err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("layer %q: %w", id, storage.ErrLayerNotFound)
		}
		return err
	}
	return nil
}

func readFileString(p string) (string, error) {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// parentOf returns the layer's parent id, "" for a base layer.
func (d *Driver) parentOf(id string) (string, error) {
	return readFileString(filepath.Join(d.dir(id), "parent"))
}

// lowersOf returns the layer's lower entries ("l/<short>"), nearest first.
func (d *Driver) lowersOf(id string) ([]string, error) {
	s, err := readFileString(filepath.Join(d.dir(id), "lower"))
	if err != nil || s == "" {
		return nil, err
	}
	return strings.Split(s, ":"), nil
}

// lowerDirs returns the absolute lower dirs (through the l/ links).
func (d *Driver) lowerDirs(id string) ([]string, error) {
	lowers, err := d.lowersOf(id)
	if err != nil {
		return nil, err
	}
	abs := make([]string, len(lowers))
	for i, l := range lowers {
		abs[i] = filepath.Join(d.home, l)
	}
	return abs, nil
}

func shortName() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base32.StdEncoding.EncodeToString(b)[:26], nil
}

// Create implements storage.Driver. The layer is built in a temporary
// directory and renamed into place, so a crash never leaves half a layer
// under its id.
func (d *Driver) Create(ctx context.Context, id, parent string, opts storage.CreateOptions) error {
	if err := validID(id); err != nil {
		return err
	}
	if len(opts.StorageOpt) > 0 {
		for k := range opts.StorageOpt {
			return errdefs.InvalidParameter(fmt.Errorf("overlay: storage option %q is not supported (no per-layer options)", k))
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	if _, err := os.Stat(d.dir(id)); err == nil {
		return fmt.Errorf("layer %q: %w", id, storage.ErrLayerExists)
	} else if !os.IsNotExist(err) {
		return err
	}
	var lowers []string
	if parent != "" {
		if err := d.checkLayer(parent); err != nil {
			return err
		}
		plink, err := readFileString(filepath.Join(d.dir(parent), "link"))
		if err != nil {
			return err
		}
		plowers, err := d.lowersOf(parent)
		if err != nil {
			return err
		}
		lowers = append([]string{linkDir + "/" + plink}, plowers...)
		if len(lowers) > maxLowers {
			return fmt.Errorf("overlay: layer %q would have %d lower layers, at most %d can be mounted: %w", id, len(lowers), maxLowers, storage.ErrTooDeep)
		}
	}

	short, err := shortName()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(d.home, tmpPrefix+id+"-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Mkdir(filepath.Join(tmp, "diff"), 0o755); err != nil {
		return err
	}
	files := map[string]string{"link": short}
	if parent != "" {
		files["parent"] = parent
		files["lower"] = strings.Join(lowers, ":")
		for _, sub := range []string{"work", "merged"} {
			if err := os.Mkdir(filepath.Join(tmp, sub), 0o700); err != nil {
				return err
			}
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	// The link first: dangling until the rename, and New removes dangling
	// links, so a crash in between leaves nothing behind.
	link := filepath.Join(d.home, linkDir, short)
	if err := os.Symlink(filepath.Join("..", id, "diff"), link); err != nil {
		return err
	}
	if err := os.Rename(tmp, d.dir(id)); err != nil {
		os.Remove(link)
		return err
	}
	ok = true
	return nil
}

// hasChildren scans the layers for one whose parent is id. A scan rather
// than an index: it is always true, even after a crash.
func (d *Driver) hasChildren(id string) (bool, error) {
	ents, err := os.ReadDir(d.home)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || validID(name) != nil {
			continue
		}
		p, err := d.parentOf(name)
		if err != nil {
			return false, err
		}
		if p == id {
			return true, nil
		}
	}
	return false, nil
}

// Remove implements storage.Driver.
func (d *Driver) Remove(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkLayer(id); err != nil {
		return err
	}
	if d.refs[id] > 0 {
		return fmt.Errorf("layer %q is mounted (%d references): %w", id, d.refs[id], storage.ErrLayerInUse)
	}
	children, err := d.hasChildren(id)
	if err != nil {
		return err
	}
	if children {
		return fmt.Errorf("layer %q has child layers: %w", id, storage.ErrLayerInUse)
	}
	// A mount nobody here holds a reference to was left by a previous
	// process of the driver; the daemon did not claim it again.
	merged := filepath.Join(d.dir(id), "merged")
	if mounted, err := isMounted(merged); err != nil {
		return err
	} else if mounted {
		if err := unmount(merged); err != nil {
			return err
		}
	}
	removing := d.dir(id) + removingSuffix
	if err := os.Rename(d.dir(id), removing); err != nil {
		return err
	}
	return d.purge(removing)
}

// purge deletes a layer directory renamed for removal and its link.
func (d *Driver) purge(dir string) error {
	if short, err := readFileString(filepath.Join(dir, "link")); err == nil && short != "" && !strings.Contains(short, "/") {
		if err := os.Remove(filepath.Join(d.home, linkDir, short)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return os.RemoveAll(dir)
}

// finishLeftovers completes what a crash interrupted: removals (renamed
// layers), creations (temporary directories) and links whose layer is
// gone.
func (d *Driver) finishLeftovers() error {
	ents, err := os.ReadDir(d.home)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(d.home, name)
		switch {
		case strings.HasSuffix(name, removingSuffix) && e.IsDir():
			if mounted, _ := isMounted(filepath.Join(p, "merged")); mounted {
				unmount(filepath.Join(p, "merged"))
			}
			errs = append(errs, d.purge(p))
		case strings.HasPrefix(name, tmpPrefix):
			errs = append(errs, os.RemoveAll(p))
		}
	}
	links, err := os.ReadDir(filepath.Join(d.home, linkDir))
	if err != nil {
		return err
	}
	for _, l := range links {
		p := filepath.Join(d.home, linkDir, l.Name())
		if _, err := os.Stat(p); os.IsNotExist(err) {
			errs = append(errs, os.Remove(p))
		}
	}
	return errors.Join(errs...)
}

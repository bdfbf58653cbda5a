// Package naivediff computes a layer's Diff, Changes and DiffSize against
// any ancestor by mounting both layers and comparing the full trees, as
// Docker 1.7's NaiveDiffDriver did. It is an SDK helper for storage drivers:
// they answer the common case (against the layer's own parent) from their
// own layout, cheaply, and fall back to this for any other ancestor.
//
// It needs only Get and Put from the driver, and always balances them: a
// Diff's mounts are held until its stream is closed.
package naivediff

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/pluggd/pluggd/core/archive"
	"github.com/pluggd/pluggd/core/driver/storage"
)

// Mounter is the part of a storage.Driver the comparison needs.
type Mounter interface {
	Get(ctx context.Context, id string, opts storage.GetOptions) (string, error)
	Put(ctx context.Context, id string) error
}

// Diff returns the changes from parent to id as a layer tar (the whole of
// id when parent is ""). Closing the stream releases the mounts.
func Diff(ctx context.Context, m Mounter, id, parent string) (io.ReadCloser, error) {
	newDir, oldDir, release, err := mountPair(ctx, m, id, parent)
	if err != nil {
		return nil, err
	}
	var rc io.ReadCloser
	if oldDir == "" {
		rc, err = archive.Tar(ctx, newDir, archive.TarOptions{Whiteouts: archive.WhiteoutsDelete})
	} else {
		var changes []storage.Change
		if changes, err = archive.Changes(ctx, newDir, oldDir); err == nil {
			rc, err = archive.TarChanges(ctx, newDir, changes)
		}
	}
	if err != nil {
		return nil, errors.Join(err, release())
	}
	return &releasingReader{ReadCloser: rc, release: release}, nil
}

// Changes lists the paths that differ between parent and id.
func Changes(ctx context.Context, m Mounter, id, parent string) (_ []storage.Change, err error) {
	newDir, oldDir, release, err := mountPair(ctx, m, id, parent)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, release()) }()
	return archive.Changes(ctx, newDir, oldDir)
}

// DiffSize is the size of the files that differ between parent and id.
func DiffSize(ctx context.Context, m Mounter, id, parent string) (_ int64, err error) {
	newDir, oldDir, release, err := mountPair(ctx, m, id, parent)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, release()) }()
	changes, err := archive.Changes(ctx, newDir, oldDir)
	if err != nil {
		return 0, err
	}
	return archive.ChangesSize(ctx, newDir, changes)
}

// mountPair mounts id and parent (if any); release puts them back, even
// when ctx has ended meanwhile.
func mountPair(ctx context.Context, m Mounter, id, parent string) (newDir, oldDir string, release func() error, err error) {
	bg := context.WithoutCancel(ctx)
	if newDir, err = m.Get(ctx, id, storage.GetOptions{}); err != nil {
		return "", "", nil, err
	}
	if parent == "" {
		return newDir, "", func() error { return m.Put(bg, id) }, nil
	}
	if oldDir, err = m.Get(ctx, parent, storage.GetOptions{}); err != nil {
		return "", "", nil, errors.Join(err, m.Put(bg, id))
	}
	return newDir, oldDir, func() error { return errors.Join(m.Put(bg, id), m.Put(bg, parent)) }, nil
}

// releasingReader drops the mounts a Diff took when it is closed.
type releasingReader struct {
	io.ReadCloser
	once    sync.Once
	release func() error
}

func (r *releasingReader) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(func() { err = errors.Join(err, r.release()) })
	return err
}

package plugintest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Fake is the fake driver. Options it reads: "fail=<reason>" makes New
// fail with storage.ErrNotSupported and that reason; any other key is an
// InvalidParameter error.
type Fake struct {
	home string

	mu     sync.Mutex
	layers map[string]*layer
}

type layer struct {
	parent string
	refs   int
}

var _ storage.Driver = (*Fake)(nil)

// New is a storage.Factory.
func New(_ context.Context, opts storage.InitOptions) (storage.Driver, error) {
	for _, o := range opts.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "fail":
			return nil, fmt.Errorf("fake storage: %s: %w", v, storage.ErrNotSupported)
		default:
			return nil, errdefs.InvalidParameter(fmt.Errorf("fake storage: unknown option %q", k))
		}
	}
	if opts.Home == "" {
		return nil, errdefs.InvalidParameter(errors.New("fake storage: no home"))
	}
	if err := os.MkdirAll(opts.Home, 0o700); err != nil {
		return nil, err
	}
	f := &Fake{home: opts.Home, layers: map[string]*layer{}}
	// Layers survive a restart of the plugin (reference counts do not,
	// as for a driver without Capabilities.ReferenceCounted).
	entries, err := os.ReadDir(opts.Home)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		parent, err := os.ReadFile(filepath.Join(opts.Home, e.Name(), "parent"))
		if err == nil {
			f.layers[e.Name()] = &layer{parent: string(parent)}
		}
	}
	return f, nil
}

func (f *Fake) dir(id string) string { return filepath.Join(f.home, id) }

func notFound(id string) error {
	return fmt.Errorf("layer %s: %w", id, storage.ErrLayerNotFound)
}

func (f *Fake) Info(context.Context) (storage.Info, error) {
	return storage.Info{Name: "fake", Version: "test", Capabilities: storage.Capabilities{ByteExactDiff: true}}, nil
}

func (f *Fake) Create(_ context.Context, id, parent string, opts storage.CreateOptions) error {
	if len(opts.StorageOpt) > 0 {
		return errdefs.InvalidParameter(errors.New("fake storage: StorageOpt is not supported"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.layers[id]; ok {
		return fmt.Errorf("layer %s: %w", id, storage.ErrLayerExists)
	}
	if _, ok := f.layers[parent]; parent != "" && !ok {
		return fmt.Errorf("parent %s: %w", parent, storage.ErrLayerNotFound)
	}
	if err := os.MkdirAll(filepath.Join(f.dir(id), "root"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.dir(id), "parent"), []byte(parent), 0o644); err != nil {
		return err
	}
	f.layers[id] = &layer{parent: parent}
	return nil
}

func (f *Fake) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.layers[id]
	if !ok {
		return notFound(id)
	}
	if l.refs > 0 {
		return fmt.Errorf("layer %s is mounted: %w", id, storage.ErrLayerInUse)
	}
	for cid, c := range f.layers {
		if c.parent == id {
			return fmt.Errorf("layer %s has child %s: %w", id, cid, storage.ErrLayerInUse)
		}
	}
	delete(f.layers, id)
	return os.RemoveAll(f.dir(id))
}

func (f *Fake) Get(_ context.Context, id string, _ storage.GetOptions) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.layers[id]
	if !ok {
		return "", notFound(id)
	}
	l.refs++
	return filepath.Join(f.dir(id), "root"), nil
}

func (f *Fake) Put(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.layers[id]
	if !ok {
		return notFound(id)
	}
	if l.refs == 0 {
		return errdefs.InvalidParameter(fmt.Errorf("layer %s: Put without Get", id))
	}
	l.refs--
	return nil
}

// Refs returns the reference count of id, for tests.
func (f *Fake) Refs(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.layers[id]; ok {
		return l.refs
	}
	return 0
}

func (f *Fake) Exists(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.layers[id]
	return ok, nil
}

func (f *Fake) Status(context.Context) ([]storage.StatusPair, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []storage.StatusPair{{Key: "Backing Filesystem", Value: "fake"}, {Key: "Layers", Value: fmt.Sprint(len(f.layers))}}, nil
}

func (f *Fake) Cleanup(context.Context) error { return nil }

func (f *Fake) exists(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.layers[id]
	return ok
}

func (f *Fake) Diff(_ context.Context, id, _ string) (io.ReadCloser, error) {
	if !f.exists(id) {
		return nil, notFound(id)
	}
	file, err := os.Open(filepath.Join(f.dir(id), "diff.tar"))
	if errors.Is(err, os.ErrNotExist) {
		// An empty layer: a tar stream with only its end marker.
		return io.NopCloser(bytes.NewReader(make([]byte, 1024))), nil
	}
	return file, err
}

func (f *Fake) Changes(_ context.Context, id, _ string) ([]storage.Change, error) {
	if !f.exists(id) {
		return nil, notFound(id)
	}
	return []storage.Change{}, nil
}

func (f *Fake) ApplyDiff(ctx context.Context, id, _ string, diff io.Reader) (int64, error) {
	if !f.exists(id) {
		return 0, notFound(id)
	}
	out, err := os.Create(filepath.Join(f.dir(id), "diff.tar"))
	if err != nil {
		return 0, err
	}
	defer out.Close()
	n, err := io.Copy(out, diff)
	if err != nil {
		return n, errdefs.InvalidParameter(fmt.Errorf("reading the tar stream: %w", err))
	}
	return n, out.Close()
}

func (f *Fake) DiffSize(_ context.Context, id, _ string) (int64, error) {
	if !f.exists(id) {
		return 0, notFound(id)
	}
	st, err := os.Stat(filepath.Join(f.dir(id), "diff.tar"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

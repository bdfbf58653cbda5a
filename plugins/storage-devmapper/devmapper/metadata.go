package devmapper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// On-disk metadata, in Docker 1.7's layout and JSON so a pool made by one
// can be read by the other (DOCKER17.md §2, deviceset.go):
//
//	metadata/<id>                  one deviceInfo per thin device ("base" for the base)
//	metadata/deviceset-metadata    {"next_device_id":N}
//	metadata/transaction-metadata  {"open_transaction_id":N,"device_hash":"<id>","device_id":N}

// maxDeviceID: thin device ids are 24-bit (dm-thin's limit as Docker
// used it).
const maxDeviceID = 0xffffff

const (
	baseFile        = "base"
	deviceSetFile   = "deviceset-metadata"
	transactionFile = "transaction-metadata"
)

// deviceInfo is metadata/<id>. Hash is the layer id ("" for the base
// device) and is not stored in the file, only in its name.
type deviceInfo struct {
	Hash          string `json:"-"`
	DeviceID      int    `json:"device_id"`
	Size          uint64 `json:"size"`
	TransactionID uint64 `json:"transaction_id"`
	Initialized   bool   `json:"initialized"`
	// Parent is the layer this one snapshots ("" for the base and for
	// layers on it). Not in Docker 1.7's files, which Docker ignores;
	// pluggd needs it to refuse removing a layer with children.
	Parent string `json:"parent,omitempty"`
}

type deviceSetMetadata struct {
	NextDeviceID int `json:"next_device_id"`
}

// transaction is the open step of a create or delete: written before the
// pool is touched, so a crash in between can be rolled back at start
// (when OpenTransactionID is above the pool's transaction id).
type transaction struct {
	OpenTransactionID uint64 `json:"open_transaction_id"`
	DeviceHash        string `json:"device_hash"`
	DeviceID          int    `json:"device_id"`
}

// metaStore reads and writes the files in one metadata directory.
type metaStore struct {
	dir string
}

func fileFor(hash string) (string, error) {
	if hash == "" {
		return baseFile, nil
	}
	// Ids are daemon-chosen opaque names; refuse only what would leave
	// the directory or collide with our own files.
	if strings.ContainsRune(hash, '/') || hash == "." || hash == ".." || strings.HasPrefix(hash, ".") ||
		hash == baseFile || hash == deviceSetFile || hash == transactionFile {
		return "", fmt.Errorf("devicemapper: layer id %q cannot name a metadata file", hash)
	}
	return hash, nil
}

func (m metaStore) saveDevice(d deviceInfo) error {
	name, err := fileFor(d.Hash)
	if err != nil {
		return err
	}
	return writeJSON(filepath.Join(m.dir, name), d)
}

// loadDevice returns os.ErrNotExist (wrapped) for an unknown hash.
func (m metaStore) loadDevice(hash string) (deviceInfo, error) {
	name, err := fileFor(hash)
	if err != nil {
		return deviceInfo{}, err
	}
	var d deviceInfo
	if err := readJSON(filepath.Join(m.dir, name), &d); err != nil {
		return deviceInfo{}, err
	}
	d.Hash = hash
	return d, nil
}

func (m metaStore) removeDevice(hash string) error {
	name, err := fileFor(hash)
	if err != nil {
		return err
	}
	err = os.Remove(filepath.Join(m.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// loadDevices reads every device file, for rebuilding the id allocator
// at start. Temporary files of an interrupted write are ignored.
func (m metaStore) loadDevices() ([]deviceInfo, error) {
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, err
	}
	var ds []deviceInfo
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || name == deviceSetFile || name == transactionFile {
			continue
		}
		hash := name
		if name == baseFile {
			hash = ""
		}
		d, err := m.loadDevice(hash)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func (m metaStore) saveDeviceSet(s deviceSetMetadata) error {
	return writeJSON(filepath.Join(m.dir, deviceSetFile), s)
}

// loadDeviceSet returns the zero value when the file does not exist yet
// (a new pool).
func (m metaStore) loadDeviceSet() (deviceSetMetadata, error) {
	var s deviceSetMetadata
	err := readJSON(filepath.Join(m.dir, deviceSetFile), &s)
	if errors.Is(err, os.ErrNotExist) {
		return deviceSetMetadata{}, nil
	}
	return s, err
}

func (m metaStore) saveTransaction(t transaction) error {
	return writeJSON(filepath.Join(m.dir, transactionFile), t)
}

func (m metaStore) loadTransaction() (transaction, error) {
	var t transaction
	err := readJSON(filepath.Join(m.dir, transactionFile), &t)
	if errors.Is(err, os.ErrNotExist) {
		return transaction{}, nil
	}
	return t, err
}

// writeJSON replaces path atomically: a crash leaves the old file or the
// new one, never a torn one (the transaction recovery depends on reading
// these files after a crash). The temporary name starts with "." so
// loadDevices skips leftovers.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("devicemapper: corrupt metadata file %s: %w", path, err)
	}
	return nil
}

// idAllocator hands out free 24-bit thin device ids after next, wrapping
// around, as Docker's getNextFreeDeviceId did: ids are not reused soon,
// so a half-deleted device is unlikely to meet its successor.
type idAllocator struct {
	next int
	used map[int]bool
}

func newIDAllocator(next int, devices []deviceInfo) *idAllocator {
	a := &idAllocator{next: next & maxDeviceID, used: map[int]bool{}}
	for _, d := range devices {
		a.used[d.DeviceID] = true
	}
	return a
}

// allocate marks and returns the next free id.
func (a *idAllocator) allocate() (int, error) {
	for range maxDeviceID + 1 {
		a.next = (a.next + 1) & maxDeviceID
		if !a.used[a.next] {
			a.used[a.next] = true
			return a.next, nil
		}
	}
	return 0, errors.New("devicemapper: no free thin device id (all 2^24 in use)")
}

func (a *idAllocator) release(id int) { delete(a.used, id) }

package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Store holds the container records, in memory and under its root
// (<daemon root>/containers), one directory per container. It is safe for
// concurrent use; the records it hands out are shared and guarded by their
// own Lock.
type Store struct {
	root string
	log  *slog.Logger

	mu    sync.RWMutex
	byID  map[string]*Container
	names map[string]string // "/name" → id, reserved or in use
}

// Open loads every container under root, creating root if needed. A
// directory whose record cannot be read is logged and left alone (Docker
// 1.7 did the same): the operator can inspect it, and one bad record must
// not keep the daemon from starting.
func Open(root string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("container store: %w", err)
	}
	s := &Store{root: root, log: log, byID: map[string]*Container{}, names: map[string]string{}}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("container store: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !IsFullID(e.Name()) {
			continue
		}
		c, err := s.load(e.Name())
		if err != nil {
			log.Warn("container store: skipping unreadable container", "id", e.Name(), "err", err)
			continue
		}
		if holder, ok := s.names[c.Name]; ok || c.Name == "" {
			// Two records with one name cannot come from this store;
			// rename the later one rather than lose it.
			log.Warn("container store: duplicate name, renaming", "id", c.ID, "name", c.Name, "holder", holder)
			c.Name = "/" + c.ID
		}
		s.byID[c.ID] = c
		s.names[c.Name] = c.ID
	}
	return s, nil
}

func (s *Store) load(id string) (*Container, error) {
	dir := s.Dir(id)
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return nil, err
	}
	c := &Container{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %w", configFile, err)
	}
	if c.ID != id {
		return nil, fmt.Errorf("%s holds id %q", configFile, c.ID)
	}
	c.HostConfig = &HostConfig{}
	b, err = os.ReadFile(filepath.Join(dir, hostConfigFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, c.HostConfig); err != nil {
			return nil, fmt.Errorf("%s: %w", hostConfigFile, err)
		}
	}
	if c.Config == nil {
		c.Config = &Config{}
	}
	return c, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// Dir is a container's directory: its record, log and the resolv.conf,
// hostname and hosts files bound into it.
func (s *Store) Dir(id string) string { return filepath.Join(s.root, id) }

// ReserveName takes name ("/x") for the container id. A name another
// container holds is a Conflict error with Docker 1.7's message; the same
// id reserving again is fine.
func (s *Store) ReserveName(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if holder, ok := s.names[name]; ok && holder != id {
		return errNameInUse(name, holder)
	}
	s.names[name] = id
	return nil
}

// ReserveRandomName takes a free random name for id and returns it, as
// Docker 1.7's generateNewName: six tries (the later ones with a digit),
// then the short id.
func (s *Store) ReserveRandomName(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range 6 {
		name := "/" + randomName(i)
		if _, taken := s.names[name]; !taken {
			s.names[name] = id
			return name
		}
	}
	name := "/" + ShortID(id)
	s.names[name] = id
	return name
}

// ReleaseName frees name if id holds it (a create that failed).
func (s *Store) ReleaseName(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names[name] == id {
		delete(s.names, name)
	}
}

// Add stores a new container: its directory must exist (the daemon fills
// it before), its name must be reserved for it. The record is written
// before it becomes visible.
func (s *Store) Add(c *Container) error {
	if !IsFullID(c.ID) {
		return errdefs.InvalidParameter(fmt.Errorf("container store: bad id %q", c.ID))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[c.ID]; ok {
		return errdefs.Conflict(fmt.Errorf("container %s already exists", c.ID))
	}
	if s.names[c.Name] != c.ID {
		return errdefs.InvalidParameter(fmt.Errorf("container store: name %s is not reserved for %s", c.Name, ShortID(c.ID)))
	}
	if err := s.write(c); err != nil {
		return err
	}
	s.byID[c.ID] = c
	return nil
}

// Save writes c's record. The caller holds c's lock.
func (s *Store) Save(c *Container) error { return s.write(c) }

func (s *Store) write(c *Container) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	hc := c.HostConfig
	if hc == nil {
		hc = &HostConfig{}
	}
	hb, err := json.Marshal(hc)
	if err != nil {
		return err
	}
	dir := s.Dir(c.ID)
	// hostconfig.json first: a record (config.json) is only ever
	// complete with its host configuration beside it.
	if err := writeFileAtomic(filepath.Join(dir, hostConfigFile), hb, 0o600); err != nil {
		return fmt.Errorf("save container %s: %w", ShortID(c.ID), err)
	}
	if err := writeFileAtomic(filepath.Join(dir, configFile), b, 0o600); err != nil {
		return fmt.Errorf("save container %s: %w", ShortID(c.ID), err)
	}
	return nil
}

// Delete forgets the container: its name is freed and its directory
// removed.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	c, ok := s.byID[id]
	if ok {
		delete(s.byID, id)
		if s.names[c.Name] == id {
			delete(s.names, c.Name)
		}
	}
	s.mu.Unlock()
	if !ok {
		return errNoSuchID(id)
	}
	if err := os.RemoveAll(s.Dir(id)); err != nil {
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	return nil
}

// errNoSuchID is Docker 1.7's lookup failure ("no such" made it a 404).
func errNoSuchID(ref string) error {
	return errdefs.NotFound(fmt.Errorf("no such id: %s", ref))
}

// Get finds the container ref designates, as Docker 1.7's daemon.Get
// (DOCKER17.md §8): full id, then exact name (with or without the leading
// "/"), then unique id prefix.
func (s *Store) Get(ref string) (*Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.byID[ref]; ok {
		return c, nil
	}
	name := ref
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if id, ok := s.names[name]; ok {
		if c, ok := s.byID[id]; ok {
			return c, nil
		}
	}
	if ref == "" {
		return nil, errdefs.InvalidParameter(errors.New("Prefix can't be empty"))
	}
	var found *Container
	for id, c := range s.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.InvalidParameter(fmt.Errorf("Multiple IDs found with provided prefix: %s", ref))
			}
			found = c
		}
	}
	if found == nil {
		return nil, errNoSuchID(ref)
	}
	return found, nil
}

// List returns every container, newest first.
func (s *Store) List() []*Container {
	s.mu.RLock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	s.mu.RUnlock()
	// Created never changes after Add, so reading it unlocked is safe.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Len is the number of containers.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// Dirs is the on-disk layout of a supervisor-based driver's containers,
// the one pluggd's own drivers use, offered so that a driver keeps no
// container state in memory and a relaunched driver finds everything
// again: one directory per container under Root, which is also the
// supervisor's state directory. It holds the driver's record of the
// container (RecordFile, JSON with the spec under "Spec", plus whatever
// else the driver keeps there) and the supervisor's files.
//
// A directory is named by the first DirIDLen characters of the id: the
// supervisor's unix socket lives there and its path must fit in 107
// bytes, which a 64-character id under a deep root would not leave. Two
// ids sharing that prefix are refused at Create.
type Dirs struct {
	Root string
}

// RecordFile is the driver's record of a container in its directory.
const RecordFile = "container.json"

// DirIDLen is how much of a container id names its directory (Docker's
// short id).
const DirIDLen = 12

// record is the part of RecordFile that Dirs reads.
type record struct {
	Spec exec.ContainerSpec
}

func (d Dirs) path(id string) string {
	if len(id) > DirIDLen {
		id = id[:DirIDLen]
	}
	return filepath.Join(d.Root, id)
}

// Create makes container spec's directory and writes rec (which must
// marshal with spec under "Spec") as its record. The directory must not
// exist: a container with the same id, or the same DirIDLen prefix, is a
// Conflict. The caller removes the directory if what follows fails.
func (d Dirs) Create(spec exec.ContainerSpec, rec any) (string, error) {
	if spec.ID == "" || strings.ContainsAny(spec.ID, "/\x00") || spec.ID == "." || spec.ID == ".." {
		return "", errdefs.InvalidParameter(fmt.Errorf("invalid container id %q", spec.ID))
	}
	dir := d.path(spec.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if other, rerr := readRecord(dir); rerr == nil && other.Spec.ID != spec.ID {
				return "", errdefs.Conflict(fmt.Errorf("container %s: another container (%s) has the same %d-character prefix", spec.ID, other.Spec.ID, DirIDLen))
			}
			return "", errdefs.Conflict(fmt.Errorf("container %s already exists", spec.ID))
		}
		return "", err
	}
	b, err := json.Marshal(rec)
	if err == nil {
		err = writeFileExcl(filepath.Join(dir, RecordFile), b)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// writeFileExcl writes a new file. Not fsynced: a driver's state lives as
// long as the host runs (the exec root does not survive a reboot), and an
// fsync costs milliseconds in every Create on a busy disk.
func writeFileExcl(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Lookup returns the directory of container id and its spec, checking
// that the directory holds that container and not another with the same
// prefix; NotFound otherwise.
func (d Dirs) Lookup(id string) (string, exec.ContainerSpec, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return "", exec.ContainerSpec{}, errdefs.NotFound(fmt.Errorf("no such container: %q", id))
	}
	dir := d.path(id)
	rec, err := readRecord(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", exec.ContainerSpec{}, errdefs.NotFound(fmt.Errorf("no such container: %s", id))
		}
		return "", exec.ContainerSpec{}, err
	}
	if rec.Spec.ID != id {
		return "", exec.ContainerSpec{}, errdefs.NotFound(fmt.Errorf("no such container: %s", id))
	}
	return dir, rec.Spec, nil
}

// ReadRecord decodes the record in container directory dir into v.
func ReadRecord(dir string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, RecordFile), err)
	}
	return nil
}

func readRecord(dir string) (record, error) {
	var r record
	return r, ReadRecord(dir, &r)
}

// Restore lists the state of every container under Root, as state (the
// driver's, given the directory and id) reports it; a container whose
// state is NotFound is left out. A directory without a record is a Create
// that died before writing it: nothing runs there.
func (d Dirs) Restore(ctx context.Context, state func(dir, id string) (exec.State, error)) ([]exec.State, error) {
	ents, err := os.ReadDir(d.Root)
	if err != nil {
		return nil, err
	}
	var out []exec.State
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(d.Root, e.Name())
		rec, err := readRecord(dir)
		if err != nil {
			continue
		}
		st, err := state(dir, rec.Spec.ID)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("restore %s: %w", rec.Spec.ID, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// SpawnContainer spawns the supervisor of container spec whose directory
// is dir: the driver's binary self re-executed as "self supervise <dir>",
// with the supervisor's Config taken from the spec. It returns once the
// Runtime created the container (see Spawn).
func SpawnContainer(ctx context.Context, self, dir string, spec exec.ContainerSpec) error {
	p := spec.Process
	_, err := Spawn(ctx, SpawnOptions{
		Path:     self,
		Args:     []string{"supervise", dir},
		StateDir: dir,
		Config: Config{
			ID:            spec.ID,
			LogPath:       spec.LogPath,
			Terminal:      p.Terminal,
			OpenStdin:     p.OpenStdin,
			StdinOnce:     p.StdinOnce,
			ConsoleWidth:  p.ConsoleWidth,
			ConsoleHeight: p.ConsoleHeight,
		},
	})
	return err
}

// WaitGone polls state until the container is stopped and its supervisor
// is gone (recorded the exit and exited), as a driver discarding a created
// container must before removing its directory.
func WaitGone(ctx context.Context, state func() (exec.State, error)) (exec.State, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := state()
		if err != nil {
			return st, err
		}
		if st.Status == exec.StatusStopped && !ProcessAlive(st.SupervisorPid) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
}

// ProcessAlive reports whether pid names a live process; a zombie counts
// as gone (a supervisor's parent, a dead driver or the daemon, may not
// have reaped it yet).
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

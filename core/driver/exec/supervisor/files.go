package supervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// writeFileAtomic replaces dir/name with data: written to a temporary
// file and renamed over the name, so that a reader sees the old content or
// the new. Not fsynced: the records describe live processes, which a
// crash of the host kills along with the exec root's meaning (it does not
// survive a reboot), and an fsync costs milliseconds on a busy disk,
// seconds while another writer keeps it busy (ext4 commits its whole
// journal). The exit record is made durable after it was published
// (fsyncPath, in Main).
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeJSON writes a record atomically (see writeFileAtomic).
func writeJSON(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(dir, name, append(b, '\n'))
}

// fsyncPath makes dir/name and its entry in dir durable, best effort (see
// the exit record in Main).
func fsyncPath(dir, name string) {
	for _, p := range []string{filepath.Join(dir, name), dir} {
		if f, err := os.Open(p); err == nil {
			f.Sync()
			f.Close()
		}
	}
}

func readJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// processStartTime returns field 22 of /proc/<pid>/stat (starttime, in
// clock ticks after boot). The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func processStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	// After ")" come fields 3 (state) onwards; starttime is field 22.
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// processState returns field 3 of /proc/<pid>/stat ('Z' for a zombie).
func processState(pid int) (byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("/proc/%d/stat: no state", pid)
	}
	return b[i+2], nil
}

func bootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// selfIdentity is the identity of the calling process.
func selfIdentity() (Identity, error) {
	pid := os.Getpid()
	st, err := processStartTime(pid)
	if err != nil {
		return Identity{}, err
	}
	boot, err := bootID()
	if err != nil {
		return Identity{}, err
	}
	return Identity{Pid: pid, StartTime: st, BootID: boot}, nil
}

// Alive reports whether the process the identity names still runs: same
// boot, a process with that pid exists, is not a zombie, and started at the
// recorded time (so it is not another process that reused the pid).
func (id Identity) Alive() bool {
	if id.Pid <= 0 {
		return false
	}
	boot, err := bootID()
	if err != nil || boot != id.BootID {
		return false
	}
	st, err := processStartTime(id.Pid)
	if err != nil || st != id.StartTime {
		return false
	}
	s, err := processState(id.Pid)
	return err == nil && s != 'Z' && s != 'X'
}

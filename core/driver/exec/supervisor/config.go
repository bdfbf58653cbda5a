package supervisor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ProtocolVersion is the version of the wire protocol described in the
// package documentation. Both ends refuse a peer speaking another version.
const ProtocolVersion = 1

// Files in a supervisor's state directory. The directory belongs to the
// driver; the supervisor only writes these names.
const (
	ConfigFile   = "supervisor.json" // Config, written by Spawn
	IdentityFile = "identity.json"   // Identity, written by the supervisor as it starts
	StatusFile   = "status.json"     // init pid and start time, rewritten at Create and Start
	ExitFile     = "exit.json"       // the recorded exit status
	SocketFile   = "sock"            // default socket name
)

// Config is what a supervisor needs to know besides its Runtime.
type Config struct {
	// ID is the container id, for messages and Info.
	ID string `json:"id"`
	// Socket is the unix socket the supervisor serves (default
	// <state dir>/sock); its path must fit in 107 bytes.
	Socket string `json:"socket"`
	// LogPath is the json-file log the container's output is appended
	// to ("" for none).
	LogPath string `json:"log_path"`
	// Terminal, OpenStdin, StdinOnce and the console size are
	// exec.Process's fields of the same names.
	Terminal      bool   `json:"terminal"`
	OpenStdin     bool   `json:"open_stdin"`
	StdinOnce     bool   `json:"stdin_once"`
	ConsoleWidth  uint16 `json:"console_width"`
	ConsoleHeight uint16 `json:"console_height"`
}

// Identity tells a live supervisor from another process that reuses its
// pid: the kernel's start time of the process (field 22 of /proc/<pid>/stat,
// in clock ticks since boot) only means something within one boot.
type Identity struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	BootID    string `json:"boot_id"`
}

// LoadConfig reads the Config Spawn wrote in stateDir. A Runtime may use it
// (for example to find the container id); Main reads it itself.
func LoadConfig(stateDir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(stateDir, ConfigFile))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("supervisor config %s: %w", filepath.Join(stateDir, ConfigFile), err)
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(stateDir, SocketFile)
	}
	return c, nil
}

package config

import (
	"os"
	"path/filepath"
)

// DefaultFile is read when --config is not given. Its absence is fine.
const DefaultFile = "/etc/pluggd/config.toml"

// FallbackPluginDir holds the plugin binaries when they are not next to the
// pluggd executable (a packaged install: /usr/bin/pluggd and
// /usr/lib/pluggd/storage-overlay).
const FallbackPluginDir = "/usr/lib/pluggd"

// Config is the daemon's configuration. The toml tags are the file's keys;
// config.toml.example at the repository root documents each of them.
type Config struct {
	// Root is the daemon's state directory (Docker's -g /var/lib/docker).
	Root string `toml:"root"`
	// ExecRoot holds runtime state that does not survive a reboot.
	ExecRoot string `toml:"exec_root"`
	// Hosts are the addresses the API listens on: unix://path,
	// tcp://host:port or fd:// (systemd socket activation).
	Hosts []string `toml:"hosts"`
	// Group owns the unix sockets when it exists (Docker's -G); otherwise
	// they stay root:root.
	Group string `toml:"group"`
	// Pidfile receives the daemon's pid; it is also locked, so two daemons
	// never share one.
	Pidfile string `toml:"pidfile"`
	// Debug turns on debug logging and /info's Debug.
	Debug bool `toml:"debug"`
	// Labels are shown in /info's Labels ("key=value").
	Labels []string `toml:"labels"`
	// PluginDir is where driver binaries are looked up. Empty means the
	// directory of the pluggd executable, then FallbackPluginDir.
	PluginDir string `toml:"plugin_dir"`
	// Storage selects the storage driver plugin.
	Storage Driver `toml:"storage"`
	// Exec selects the exec driver plugin.
	Exec Driver `toml:"exec"`
}

// Driver configures one driver plugin.
type Driver struct {
	// Driver is the driver's name ("overlay", "devicemapper", "native", "lxc").
	Driver string `toml:"driver"`
	// Options are passed to the plugin in order as "key=value" strings. The
	// file accepts an array of such strings or a table.
	Options Options `toml:"options"`
	// Plugin is the path of the plugin binary, for third-party drivers that
	// do not live in the plugin directory. Empty means
	// <plugin_dir>/<kind>-<name>.
	Plugin string `toml:"plugin"`
}

// Default returns the configuration used when neither file nor flags say
// otherwise. The values are Docker 1.7's, with pluggd's names.
func Default() *Config {
	return &Config{
		Root:     "/var/lib/pluggd",
		ExecRoot: "/var/run/pluggd",
		Hosts:    []string{"unix:///var/run/pluggd.sock"},
		Group:    "docker",
		Pidfile:  "/var/run/pluggd.pid",
		Storage:  Driver{Driver: "overlay"},
		Exec:     Driver{Driver: "native"},
	}
}

// Plugin kinds, the prefix of a plugin binary's name.
const (
	KindStorage = "storage"
	KindExec    = "exec"
)

// binaryNames maps a driver name to its plugin's name where the two differ
// (the binary keeps a short name; the driver reports Docker's name).
var binaryNames = map[string]string{"devicemapper": "devmapper"}

// PluginBinary returns the path of the plugin binary for a driver of kind
// (KindStorage or KindExec): the driver's plugin key if set, else
// <plugin_dir>/<kind>-<name>. With no plugin_dir configured, the directory
// of the pluggd executable is tried first (so bin/pluggd finds
// bin/storage-overlay in a build tree), then FallbackPluginDir.
func (c *Config) PluginBinary(kind string) string {
	d := c.Storage
	if kind == KindExec {
		d = c.Exec
	}
	if d.Plugin != "" {
		return d.Plugin
	}
	return c.PluginBinaryFor(kind, d.Driver)
}

// PluginBinaryFor is PluginBinary for a driver named name rather than the
// configured one (storage driver "auto" tries several).
func (c *Config) PluginBinaryFor(kind, name string) string {
	if n, ok := binaryNames[name]; ok {
		name = n
	}
	base := kind + "-" + name
	if c.PluginDir != "" {
		return filepath.Join(c.PluginDir, base)
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	dirs = append(dirs, FallbackPluginDir)
	for _, dir := range dirs {
		p := filepath.Join(dir, base)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	// Name the first candidate: the error starting it says where we looked.
	return filepath.Join(dirs[0], base)
}

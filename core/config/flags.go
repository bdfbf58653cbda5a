package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Flags are the parsed command line. Go's flag package accepts both -name
// and --name, so "-H x" and "--host x" both work, as with Docker 1.7's
// mflag; short and long names are registered as aliases of one variable.
type Flags struct {
	// ConfigFile is --config, or "" for DefaultFile.
	ConfigFile string
	// Version is --version/-v: print the version and exit.
	Version bool

	set map[string]bool // canonical names of the flags given

	root, execRoot, storageDriver, execDriver, pidfile, group, pluginDir string
	debug                                                                bool
	hosts, storageOpts, execOpts, labels                                 listValue
}

// listValue is a repeatable flag.
type listValue []string

func (l *listValue) String() string     { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error { *l = append(*l, s); return nil }

// flagSpec describes one flag: its names (the first is canonical) and help.
type flagSpec struct {
	names []string
	arg   string
	help  string
}

var usage = []flagSpec{
	{[]string{"host", "H"}, "ADDR", "address to listen on, repeatable: unix:///path, tcp://host:port, fd:// (default unix:///var/run/pluggd.sock)"},
	{[]string{"graph", "g", "root"}, "DIR", "root of the daemon's state (default /var/lib/pluggd)"},
	{[]string{"exec-root"}, "DIR", "root of the runtime state (default /var/run/pluggd)"},
	{[]string{"storage-driver", "s"}, "NAME", "storage driver (default overlay)"},
	{[]string{"storage-opt"}, "K=V", "storage driver option, repeatable"},
	{[]string{"exec-driver", "e"}, "NAME", "exec driver (default native)"},
	{[]string{"exec-opt"}, "K=V", "exec driver option, repeatable"},
	{[]string{"pidfile", "p"}, "FILE", "pid file (default /var/run/pluggd.pid)"},
	{[]string{"group", "G"}, "GROUP", "group owning the unix sockets, if it exists (default docker)"},
	{[]string{"label"}, "K=V", "label shown by /info, repeatable"},
	{[]string{"plugin-dir"}, "DIR", "directory of the driver plugin binaries"},
	{[]string{"debug", "D"}, "", "debug logging"},
	{[]string{"config"}, "FILE", "configuration file (default " + DefaultFile + ")"},
	{[]string{"version", "v"}, "", "print the version and exit"},
}

// ParseFlags parses the daemon's arguments (without the program name). Help
// (-h) returns flag.ErrHelp after printing the usage to out.
func ParseFlags(args []string, out io.Writer) (*Flags, error) {
	f := &Flags{}
	fs := flag.NewFlagSet("pluggd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { printUsage(out) }
	canonical := map[string]string{}
	for _, s := range usage {
		for _, n := range s.names {
			canonical[n] = s.names[0]
			switch s.names[0] {
			case "host":
				fs.Var(&f.hosts, n, s.help)
			case "graph":
				fs.StringVar(&f.root, n, "", s.help)
			case "exec-root":
				fs.StringVar(&f.execRoot, n, "", s.help)
			case "storage-driver":
				fs.StringVar(&f.storageDriver, n, "", s.help)
			case "storage-opt":
				fs.Var(&f.storageOpts, n, s.help)
			case "exec-driver":
				fs.StringVar(&f.execDriver, n, "", s.help)
			case "exec-opt":
				fs.Var(&f.execOpts, n, s.help)
			case "pidfile":
				fs.StringVar(&f.pidfile, n, "", s.help)
			case "group":
				fs.StringVar(&f.group, n, "", s.help)
			case "label":
				fs.Var(&f.labels, n, s.help)
			case "plugin-dir":
				fs.StringVar(&f.pluginDir, n, "", s.help)
			case "debug":
				fs.BoolVar(&f.debug, n, false, s.help)
			case "config":
				fs.StringVar(&f.ConfigFile, n, "", s.help)
			case "version":
				fs.BoolVar(&f.Version, n, false, s.help)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[canonical[fl.Name]] = true })
	return f, nil
}

func printUsage(out io.Writer) {
	fmt.Fprintf(out, "Usage: pluggd [OPTIONS]\n\nA container daemon speaking the Docker Remote API v1.0-v1.19.\n\nOptions:\n")
	for _, s := range usage {
		var names []string
		for _, n := range s.names {
			if len(n) == 1 {
				names = append(names, "-"+n)
			} else {
				names = append(names, "--"+n)
			}
		}
		left := strings.Join(names, ", ")
		if s.arg != "" {
			left += " " + s.arg
		}
		fmt.Fprintf(out, "  %-34s %s\n", left, s.help)
	}
}

// Apply overrides c with the flags that were given.
func (f *Flags) Apply(c *Config) {
	str := func(name string, dst *string, v string) {
		if f.set[name] {
			*dst = v
		}
	}
	list := func(name string, dst *[]string, v listValue) {
		if f.set[name] {
			*dst = append([]string(nil), v...)
		}
	}
	str("graph", &c.Root, f.root)
	str("exec-root", &c.ExecRoot, f.execRoot)
	str("storage-driver", &c.Storage.Driver, f.storageDriver)
	str("exec-driver", &c.Exec.Driver, f.execDriver)
	str("pidfile", &c.Pidfile, f.pidfile)
	str("group", &c.Group, f.group)
	str("plugin-dir", &c.PluginDir, f.pluginDir)
	list("host", &c.Hosts, f.hosts)
	list("label", &c.Labels, f.labels)
	if f.set["storage-opt"] {
		c.Storage.Options = Options(append([]string(nil), f.storageOpts...))
	}
	if f.set["exec-opt"] {
		c.Exec.Options = Options(append([]string(nil), f.execOpts...))
	}
	if f.set["debug"] {
		c.Debug = f.debug
	}
}

// Load builds the configuration from the command line: the file named by
// --config (which must exist) or DefaultFile (which may be missing), then
// the flags on top. The returned Flags tell whether --version was asked.
func Load(args []string, out io.Writer) (*Config, *Flags, error) {
	f, err := ParseFlags(args, out)
	if err != nil {
		return nil, nil, err
	}
	if f.Version {
		return nil, f, nil
	}
	path, required := DefaultFile, false
	if f.ConfigFile != "" {
		path, required = f.ConfigFile, true
	}
	c, err := LoadFile(path, required)
	if err != nil {
		return nil, nil, err
	}
	f.Apply(c)
	if key, err := c.check(); err != nil {
		return nil, nil, fmt.Errorf("%s (from the command line or %s): %w", key, path, err)
	}
	return c, f, nil
}

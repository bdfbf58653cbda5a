package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultUnixSocket is where unix:// without a path listens.
const DefaultUnixSocket = "/var/run/pluggd.sock"

// DefaultTCPPort is Docker's plain-text port, used by tcp://host without one.
const DefaultTCPPort = "2375"

// check validates c and normalises its hosts. On error it returns the dotted
// key at fault.
func (c *Config) check() (string, error) {
	for _, p := range []struct{ key, val string }{
		{"root", c.Root}, {"exec_root", c.ExecRoot}, {"pidfile", c.Pidfile},
	} {
		if !filepath.IsAbs(p.val) {
			return p.key, fmt.Errorf("%q is not an absolute path", p.val)
		}
	}
	if c.PluginDir != "" && !filepath.IsAbs(c.PluginDir) {
		return "plugin_dir", fmt.Errorf("%q is not an absolute path", c.PluginDir)
	}
	if len(c.Hosts) == 0 {
		return "hosts", fmt.Errorf("at least one host is needed")
	}
	for i, h := range c.Hosts {
		n, err := ParseHost(h)
		if err != nil {
			return "hosts", err
		}
		c.Hosts[i] = n
	}
	for _, l := range c.Labels {
		if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
			return "labels", fmt.Errorf("label %q is not key=value", l)
		}
	}
	for _, d := range []struct {
		section string
		drv     Driver
	}{{"storage", c.Storage}, {"exec", c.Exec}} {
		if !validName(d.drv.Driver) {
			return d.section + ".driver", fmt.Errorf("%q is not a driver name (lower-case letters, digits, '-' and '_')", d.drv.Driver)
		}
		if err := checkOptions(d.drv.Options); err != nil {
			return d.section + ".options", err
		}
		if d.drv.Plugin != "" && !filepath.IsAbs(d.drv.Plugin) {
			return d.section + ".plugin", fmt.Errorf("%q is not an absolute path", d.drv.Plugin)
		}
	}
	return "", nil
}

// validName keeps driver names usable as file names (the driver's home is
// <root>/<name> and its binary <kind>-<name>).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ParseHost checks a -H address and returns it in canonical form, the way
// Docker 1.7's opts.ParseHost did: "unix://" alone means the default socket,
// "tcp://" without host means 0.0.0.0 and without port 2375, a bare
// "host:port" is tcp, "fd://" and "fd://N" are systemd socket activation.
func ParseHost(s string) (string, error) {
	s = strings.TrimSpace(s)
	proto, addr, ok := strings.Cut(s, "://")
	if !ok {
		proto, addr = "tcp", s
	}
	switch proto {
	case "unix":
		if addr == "" {
			addr = DefaultUnixSocket
		}
		if !filepath.IsAbs(addr) {
			return "", fmt.Errorf("invalid host %q: unix socket path must be absolute", s)
		}
		return "unix://" + addr, nil
	case "tcp":
		if i := strings.IndexByte(addr, '/'); i >= 0 {
			return "", fmt.Errorf("invalid host %q: a tcp address has no path", s)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			// No port: Docker defaulted it.
			host, port = strings.Trim(addr, "[]"), DefaultTCPPort
		}
		if host == "" {
			host = "0.0.0.0"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "", fmt.Errorf("invalid host %q: bad port %q", s, port)
		}
		return "tcp://" + net.JoinHostPort(host, port), nil
	case "fd":
		if addr != "" && addr != "*" {
			if n, err := strconv.Atoi(addr); err != nil || n < 3 {
				return "", fmt.Errorf("invalid host %q: fd:// takes nothing, * or a descriptor number >= 3", s)
			}
		}
		return "fd://" + addr, nil
	}
	return "", fmt.Errorf("invalid host %q: protocol must be unix, tcp or fd", s)
}

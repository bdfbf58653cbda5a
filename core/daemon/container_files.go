package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/pluggd/pluggd/core/container"
)

// Docker 1.7's fallback resolvers when the host has only local ones
// (pkg/resolvconf).
var defaultDNS = []string{"8.8.8.8", "8.8.4.4"}

// writeNetworkFiles writes the container's resolv.conf, hostname and
// hosts, which start binds over /etc/… (Docker 1.7 did the same in the
// container directory) and records their paths.
func (s *Containers) writeNetworkFiles(c *container.Container, dir string) error {
	hc := c.HostConfig
	c.ResolvConfPath = filepath.Join(dir, "resolv.conf")
	c.HostnamePath = filepath.Join(dir, "hostname")
	c.HostsPath = filepath.Join(dir, "hosts")

	host, err := os.ReadFile(s.resolvConf)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read %s: %w", s.resolvConf, err)
	}
	hostNet := hc.NetworkMode == "host"
	var resolv []byte
	if hostNet {
		resolv = host
	} else {
		resolv = containerResolvConf(host, hc.Dns, hc.DnsSearch)
	}
	if err := os.WriteFile(c.ResolvConfPath, resolv, 0o644); err != nil {
		return err
	}
	hostname := c.Config.Hostname
	if c.Config.Domainname != "" {
		hostname += "." + c.Config.Domainname
	}
	if err := os.WriteFile(c.HostnamePath, []byte(c.Config.Hostname+"\n"), 0o644); err != nil {
		return err
	}
	var hosts bytes.Buffer
	if hostNet {
		b, _ := os.ReadFile("/etc/hosts")
		hosts.Write(b)
	} else {
		// Docker 1.7's etchosts.Build defaults; without a network there
		// is no address of the container's own to name.
		hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
		hosts.WriteString("127.0.0.1\t" + hostname + "\n")
	}
	for _, e := range hc.ExtraHosts {
		// "name:ip" (v1.19 doc, ExtraHosts).
		name, ip, ok := strings.Cut(e, ":")
		if !ok || net.ParseIP(ip) == nil {
			return fmt.Errorf("invalid ExtraHosts entry %q, want name:ip", e)
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, name)
	}
	return os.WriteFile(c.HostsPath, hosts.Bytes(), 0o644)
}

// containerResolvConf is the host's resolv.conf without localhost
// nameservers (unreachable from the container's network namespace), as
// Docker 1.7's resolvconf.FilterResolvDns, with the defaults if none is
// left; dns and search replace the host's when given.
func containerResolvConf(host []byte, dns, search []string) []byte {
	var out bytes.Buffer
	nameservers := 0
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 1 && fields[0] == "nameserver" {
			if len(dns) > 0 || len(fields) < 2 || isLocalhost(fields[1]) {
				continue
			}
			nameservers++
		}
		if len(fields) >= 1 && fields[0] == "search" && len(search) > 0 {
			continue
		}
		out.WriteString(line + "\n")
	}
	if len(dns) > 0 {
		for _, d := range dns {
			fmt.Fprintf(&out, "nameserver %s\n", d)
		}
		nameservers = len(dns)
	}
	if nameservers == 0 {
		for _, d := range defaultDNS {
			fmt.Fprintf(&out, "nameserver %s\n", d)
		}
	}
	// Docker wrote "search ." for an explicit empty search list.
	if len(search) > 0 && !(len(search) == 1 && search[0] == "") {
		fmt.Fprintf(&out, "search %s\n", strings.Join(search, " "))
	}
	return out.Bytes()
}

func isLocalhost(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

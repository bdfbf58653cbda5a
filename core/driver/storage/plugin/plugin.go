package plugin

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-plugin"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
	"google.golang.org/grpc"
)

// MinProtocolMinor is the oldest minor version of storage.ProtocolMajor
// this daemon accepts from a plugin.
const MinProtocolMinor = 0

// Version is the contract version this build speaks.
func Version() pluginrpc.Version {
	return pluginrpc.Version{Major: storage.ProtocolMajor, Minor: storage.ProtocolMinor}
}

// Sentinels are the storage contract's sentinel errors with their wire
// codes.
func Sentinels() []pluginrpc.Sentinel {
	var out []pluginrpc.Sentinel
	for _, e := range storage.Sentinels() {
		out = append(out, pluginrpc.Sentinel{Code: e.Code, Err: e})
	}
	return out
}

// GRPCPlugin is the storage kind for go-plugin. The plugin side sets
// Factory (and Log); the daemon side leaves them nil and gets a *Client
// from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Factory storage.Factory
	Log     *slog.Logger
	// FDs is the daemon's descriptor side channel (plugin side), or nil.
	FDs *pluginrpc.FDReceiver
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the storage service and the negotiation service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := Register(s, p.Factory, p.Log)
	srv.fds = p.FDs
	return nil
}

// GRPCClient returns a *Client on conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return NewClient(conn), nil
}

// VersionedPlugins is go-plugin's plugin set, keyed by the contract's major
// version so that go-plugin's handshake refuses another major.
func VersionedPlugins(factory storage.Factory, log *slog.Logger) map[int]plugin.PluginSet {
	return versionedPlugins(&GRPCPlugin{Factory: factory, Log: log})
}

func versionedPlugins(p *GRPCPlugin) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{storage.ProtocolMajor: {pluginrpc.KindStorage: p}}
}

package plugin

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-plugin"
	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"google.golang.org/grpc"
)

// MinProtocolMinor is the oldest minor version of exec.ProtocolMajor this
// daemon accepts from a plugin.
const MinProtocolMinor = 0

// Version is the contract version this build speaks.
func Version() pluginrpc.Version {
	return pluginrpc.Version{Major: exec.ProtocolMajor, Minor: exec.ProtocolMinor}
}

// GRPCPlugin is the exec kind for go-plugin. The plugin side sets Factory
// (and Log); the daemon side leaves them nil and gets a *Client from
// Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Factory exec.Factory
	Log     *slog.Logger
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the exec service and the negotiation service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	Register(s, p.Factory, p.Log)
	return nil
}

// GRPCClient returns a *Client on conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return NewClient(conn), nil
}

// VersionedPlugins is go-plugin's plugin set, keyed by the contract's major
// version so that go-plugin's handshake refuses another major. The daemon
// passes nil, nil.
func VersionedPlugins(factory exec.Factory, log *slog.Logger) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{exec.ProtocolMajor: {pluginrpc.KindExec: &GRPCPlugin{Factory: factory, Log: log}}}
}

// Serve runs an exec plugin: the rest of a plugin's main once it has
// dispatched its own subcommands (a runtime's init, the supervisor),
//
//	func main() {
//		if len(os.Args) > 1 && os.Args[1] == "supervise" { ... }
//		plugin.Serve(native.New)
//	}
//
// It does not read os.Args. It reserves standard output for go-plugin's
// handshake, sends logs to standard error as JSON the daemon parses (slog's
// default logger included), exits when the daemon dies, and serves the
// driver until the daemon stops it; factory runs when the daemon calls
// Init. Serve does not return.
//
// The plugin process dies with the daemon, but its containers must not:
// the supervisors it spawns must call setsid and must not set a
// parent-death signal, and must not keep the plugin's standard output or
// error open (the supervisor package does all three).
func Serve(factory exec.Factory) {
	pluginrpc.ServePlugin(pluginrpc.ServeConfig{
		Kind:  pluginrpc.KindExec,
		Major: exec.ProtocolMajor,
		Plugins: func(log *slog.Logger, _ *pluginrpc.FDReceiver) map[int]plugin.PluginSet {
			return VersionedPlugins(factory, log)
		},
	})
}

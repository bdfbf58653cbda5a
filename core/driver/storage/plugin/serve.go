package plugin

import (
	"log/slog"

	"github.com/hashicorp/go-plugin"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
)

// Serve runs a storage plugin: it is the whole of a plugin's main,
//
//	func main() { plugin.Serve(overlay.New) }
//
// It reserves standard output for go-plugin's handshake (see
// pluginrpc.ReserveStdout), sends every log line to standard error as
// JSON the daemon parses (slog's default logger included, so a driver can
// simply use slog), arranges for the process to exit when the daemon dies,
// and serves the driver over gRPC until the daemon stops it (all of it
// pluginrpc.ServePlugin). factory runs when the daemon calls Init, with the
// operator's options. Serve does not return.
func Serve(factory storage.Factory) {
	pluginrpc.ServePlugin(pluginrpc.ServeConfig{
		Kind:  pluginrpc.KindStorage,
		Major: storage.ProtocolMajor,
		// The daemon's descriptor side channel, for tar streams
		// through pipes. Without it (an older daemon) streams travel as
		// chunks.
		FDChannel: true,
		Plugins: func(log *slog.Logger, fds *pluginrpc.FDReceiver) map[int]plugin.PluginSet {
			return versionedPlugins(&GRPCPlugin{Factory: factory, Log: log, FDs: fds})
		},
	})
}

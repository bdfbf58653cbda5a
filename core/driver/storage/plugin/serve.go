package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/pluggd/pluggd/core/driver/pluginrpc"
	"github.com/pluggd/pluggd/core/driver/storage"
)

// LogLevelEnv names the environment variable through which the daemon
// passes its log level ("debug", "info", "warn", "error") to a plugin.
const LogLevelEnv = "PLUGGD_PLUGIN_LOG_LEVEL"

// Serve runs a storage plugin: it is the whole of a plugin's main,
//
//	func main() { plugin.Serve(overlay.New) }
//
// It reserves standard output for go-plugin's handshake (see
// pluginrpc.ReserveStdout), sends every log line to standard error as
// JSON the daemon parses (slog's default logger included, so a driver can
// simply use slog), arranges for the process to exit when the daemon dies,
// and serves the driver over gRPC until the daemon stops it. factory runs
// when the daemon calls Init, with the operator's options. Serve does not
// return.
func Serve(factory storage.Factory) {
	stderr, err := pluginrpc.ReserveStdout()
	if err != nil {
		fmt.Fprintf(os.Stderr, "storage plugin: %v\n", err)
		os.Exit(1)
	}
	level := slog.LevelInfo
	if v := os.Getenv(LogLevelEnv); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	log := pluginrpc.NewPluginLogger(stderr, level)
	// Serve is the plugin's main: choosing the process's default logger
	// is its job, and drivers that log with slog's package functions then
	// reach the daemon's log.
	slog.SetDefault(log)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pluginrpc.WatchParent(ctx, log, func() { os.Exit(2) })

	// The daemon's descriptor side channel, for tar streams through
	// pipes. Without it (an older daemon) streams travel as chunks.
	fds, err := pluginrpc.FDReceiverFromEnv()
	if err != nil {
		log.Warn("no fd channel; tar streams go as gRPC chunks", "error", err)
		fds = nil
	}

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  pluginrpc.Handshake(storage.ProtocolMajor),
		VersionedPlugins: versionedPlugins(&GRPCPlugin{Factory: factory, Log: log, FDs: fds}),
		GRPCServer:       pluginrpc.GRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "go-plugin",
			Output:     stderr,
			JSONFormat: true,
			Level:      hclog.LevelFromString(level.String()),
		}),
	})
	// go-plugin returns when the daemon closed the connection (its
	// controller's Shutdown) or when the handshake failed.
	os.Exit(0)
}

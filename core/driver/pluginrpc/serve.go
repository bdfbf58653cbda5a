package pluginrpc

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// LogLevelEnv names the environment variable through which the daemon
// passes its log level ("debug", "info", "warn", "error") to a plugin.
const LogLevelEnv = "PLUGGD_PLUGIN_LOG_LEVEL"

// ServeConfig is what a kind's Serve tells ServePlugin.
type ServeConfig struct {
	Kind  string // KindStorage, KindExec
	Major int    // the contract's major version, go-plugin's protocol version
	// FDChannel asks for the daemon's descriptor side channel; Plugins
	// gets nil when it is false or the daemon offered none.
	FDChannel bool
	// Plugins returns go-plugin's plugin set for this process, given the
	// plugin's logger and descriptor channel.
	Plugins func(log *slog.Logger, fds *FDReceiver) map[int]plugin.PluginSet
}

// ServePlugin is the body of every kind's Serve, the whole of a plugin's
// main once it has dispatched its own subcommands. It reserves standard
// output for go-plugin's handshake (ReserveStdout), sends every log line
// to standard error as JSON the daemon parses (slog's default logger
// included), arranges for the process to exit when the daemon dies
// (WatchParent) and serves until the daemon stops it. It does not look at
// os.Args and does not return.
func ServePlugin(cfg ServeConfig) {
	stderr, err := ReserveStdout()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s plugin: %v\n", cfg.Kind, err)
		os.Exit(1)
	}
	level := slog.LevelInfo
	if v := os.Getenv(LogLevelEnv); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	log := NewPluginLogger(stderr, level)
	// This is the plugin's main: choosing the process's default logger
	// is its job, and drivers that log with slog's package functions then
	// reach the daemon's log.
	slog.SetDefault(log)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	WatchParent(ctx, log, func() { os.Exit(2) })

	var fds *FDReceiver
	if cfg.FDChannel {
		// Without it (an older daemon) the kind falls back to what
		// travels in gRPC messages.
		fds, err = FDReceiverFromEnv()
		if err != nil {
			log.Warn("no fd channel from the daemon", "error", err)
			fds = nil
		}
	}

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake(cfg.Major),
		VersionedPlugins: cfg.Plugins(log, fds),
		GRPCServer:       GRPCServer,
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

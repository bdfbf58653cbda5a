package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pluggd/pluggd/api/server"
	"github.com/pluggd/pluggd/api/server/containers"
	"github.com/pluggd/pluggd/api/server/events"
	"github.com/pluggd/pluggd/api/server/images"
	"github.com/pluggd/pluggd/api/server/system"
	"github.com/pluggd/pluggd/api/version"
	"github.com/pluggd/pluggd/core/config"
	"github.com/pluggd/pluggd/core/daemon"
)

// shutdownTimeout bounds the daemon's own shutdown (driver cleanup, plugin
// stop) after the API has stopped.
const shutdownTimeout = 30 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, returning the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, flags, err := config.Load(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "pluggd: %v\n", err)
		return 2
	}
	if flags.Version {
		fmt.Fprintf(stdout, "pluggd version %s (Docker %s, API %s)\n", daemon.Version, daemon.DockerVersion, version.Current)
		return 0
	}

	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, stop, cfg, logger); err != nil {
		logger.Error("pluggd stopped", "err", err)
		return 1
	}
	return 0
}

// serve starts the daemon and the API and blocks until ctx ends (a signal)
// or the API fails, then shuts everything down: listeners first, so no
// request reaches a half-stopped daemon, then the daemon.
func serve(ctx context.Context, stopSignals func(), cfg *config.Config, logger *slog.Logger) (err error) {
	d, err := daemon.Start(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if serr := d.Shutdown(sctx); serr != nil {
			logger.Error("daemon shutdown", "err", serr)
			if err == nil {
				err = serr
			}
		}
	}()

	srv := server.New(server.Options{Logger: logger, DockerVersion: daemon.DockerVersion, Version: daemon.Version})
	system.Register(srv.Group(), d)
	images.Register(srv.Group(), d.Images())
	containers.Register(srv.Group(), d.Containers())
	events.Register(srv.Group(), d.Events())

	var listeners []net.Listener
	for _, h := range cfg.Hosts {
		ls, err := server.Listen(ctx, h, server.ListenOptions{Group: cfg.Group, Logger: logger})
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("listen on %s: %w", h, err)
		}
		listeners = append(listeners, ls...)
	}

	// After the first signal, a second one kills the process at once (the
	// default action), for a shutdown that hangs.
	go func() {
		<-ctx.Done()
		stopSignals()
		logger.Info("shutting down")
		// /events streams never end by themselves: closing the log ends
		// them now instead of at the server's shutdown grace timeout.
		d.Events().Close()
	}()
	return srv.Serve(ctx, listeners)
}

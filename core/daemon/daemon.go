package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pluggd/pluggd/core/config"
	"github.com/pluggd/pluggd/core/driver"
	"github.com/pluggd/pluggd/core/events"
	"github.com/pluggd/pluggd/core/image"
)

// Daemon is a running pluggd core: locks held, storage plugin started, image
// store open. It implements the system routes' Backend.
type Daemon struct {
	cfg       *config.Config
	logger    *slog.Logger
	id        string
	locks     *Locks
	hostPaths hostPaths

	host       *driver.Host
	storage    storageDriver
	images     imageCounter
	imageStore *image.Service
	containers *Containers
	events     *events.Log
}

// Start brings the daemon up: root and exec root, the root and pidfile
// locks, the storage plugin, the image store. On failure everything already
// started is stopped again and the error says why; a storage driver that
// cannot work on this host fails with the plugin's own reason.
func Start(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *Daemon, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	d := &Daemon{cfg: cfg, logger: logger, hostPaths: systemHostPaths()}
	defer func() {
		if err != nil {
			if serr := d.Shutdown(context.WithoutCancel(ctx)); serr != nil {
				logger.Warn("cleanup after failed start", "err", serr)
			}
		}
	}()
	// Docker 1.7 created its root 0700: it holds every image's files.
	for _, dir := range []string{cfg.Root, cfg.ExecRoot} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if d.locks, err = Lock(cfg.Root, cfg.Pidfile); err != nil {
		return nil, err
	}
	if d.id, err = loadOrCreateID(cfg.Root); err != nil {
		return nil, err
	}
	d.events = events.New(events.Options{
		// Wired now, called later: the container store opens last.
		ResolveContainer: func(ref string) (string, bool) {
			if d.containers == nil {
				return "", false
			}
			return d.containers.ResolveID(ref)
		},
		Logger: logger.With("component", "events"),
	})

	d.host = driver.NewHost(logger)
	st, err := d.startStorage(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	d.storage = st
	info, _ := st.Info(ctx) // cached by the host, never fails

	// Images are per driver, as Docker kept graph state per driver: a
	// layer id means nothing to another driver.
	d.imageStore, err = image.NewService(ctx, image.Options{
		Root:          filepath.Join(cfg.Root, "image", info.Name),
		Driver:        st,
		Logger:        logger.With("component", "image"),
		DockerVersion: DockerVersion,
		Events:        d.events,
		// Wired now, called later: the container store opens after the
		// image store, and Docker 1.7 refused to delete an image a
		// container uses (409).
		ImageUsers: func(ctx context.Context) ([]image.ImageUser, error) {
			if d.containers == nil {
				return nil, nil
			}
			return d.containers.ImageUsers(ctx)
		},
	})
	if err != nil {
		return nil, err
	}
	d.images = d.imageStore

	ex, err := d.startExec(ctx)
	if err != nil {
		return nil, err
	}
	d.containers, err = NewContainers(ctx, ContainersOptions{
		Root:    filepath.Join(cfg.Root, "containers"),
		Images:  d.imageStore,
		Storage: st,
		Exec:    ex,
		Logger:  logger.With("component", "containers"),
		Events:  d.events,
	})
	if err != nil {
		return nil, err
	}
	logger.Info("daemon started", "root", cfg.Root, "driver", info.Name, "exec_driver", d.containers.ExecDriverName(), "id", d.id)
	return d, nil
}

// Images is the image store, the images router's backend.
func (d *Daemon) Images() *image.Service { return d.imageStore }

// Containers is the container service, the containers router's backend.
func (d *Daemon) Containers() *Containers { return d.containers }

// Events is the event log, the events router's backend.
func (d *Daemon) Events() *events.Log { return d.events }

// startExec starts the exec driver plugin <plugin_dir>/exec-<driver> with
// its state under <exec_root>/<driver>. A driver that cannot run here (its
// plugin missing, or refusing this host, e.g. lxc without LXC's tools)
// stops the daemon with the reason, as a storage driver does: a daemon that
// cannot start containers with the driver the operator chose must not
// pretend otherwise.
func (d *Daemon) startExec(ctx context.Context) (*driver.Exec, error) {
	name := d.cfg.Exec.Driver
	binary := d.cfg.PluginBinary(config.KindExec)
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("exec driver %s: plugin not installed: %w", name, err)
	}
	d.logger.Info("starting exec driver", "driver", name, "plugin", binary)
	ex, err := d.host.StartExec(ctx, driver.ExecConfig{
		Name:    name,
		Binary:  binary,
		Root:    filepath.Join(d.cfg.ExecRoot, name),
		Options: d.cfg.Exec.Options,
	})
	if err != nil {
		return nil, fmt.Errorf("exec driver %s: %w", name, err)
	}
	return ex, nil
}

// Shutdown closes the image store, stops the plugins (the host has the
// storage driver unmount what it mounted first), removes the pidfile and releases the locks.
// It is safe on a partly started daemon; the HTTP server must be stopped
// first so no request uses what goes away.
func (d *Daemon) Shutdown(ctx context.Context) error {
	var errs []error
	if d.events != nil {
		// Normally done already when the API stopped (cmd/pluggd);
		// closing twice is harmless and covers other embedders.
		d.events.Close()
	}
	if d.containers != nil {
		// Monitors stop; containers keep running under their supervisors.
		d.containers.Close()
		d.containers = nil
	}
	if d.imageStore != nil {
		errs = append(errs, d.imageStore.Close())
		d.imageStore, d.images = nil, nil
	}
	// The host has each driver Cleanup (unmount) before stopping it.
	if d.host != nil {
		errs = append(errs, d.host.Shutdown(ctx))
		d.host = nil
	}
	if d.locks != nil {
		errs = append(errs, d.locks.Release())
		d.locks = nil
	}
	return errors.Join(errs...)
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/pluggd/pluggd/core/config"
	"github.com/pluggd/pluggd/core/driver"
	"github.com/pluggd/pluggd/core/driver/storage"
)

// AutoStorage is the storage driver name that asks the daemon to choose.
const AutoStorage = "auto"

// storagePriority is Docker 1.7's order (graphdriver.priority); drivers
// pluggd has no plugin for are skipped.
var storagePriority = []string{"aufs", "btrfs", "zfs", "devicemapper", "overlay", "vfs"}

// storageOptionPrefix is the key prefix of each driver's storage options
// (Docker's "dm.basesize", "btrfs.min_space", …).
var storageOptionPrefix = map[string]string{
	"aufs": "aufs", "btrfs": "btrfs", "zfs": "zfs", "devicemapper": "dm", "overlay": "overlay", "vfs": "vfs",
}

// optionsFor returns the options among opts whose key prefix is driver
// name's. Under "auto" each candidate gets only its own: options meant
// for devicemapper must not make overlay refuse to start (Docker 1.7's
// overlay ignored options; ours refuses unknown ones, as every pluggd
// driver does, so that a typo is never silently ignored).
func optionsFor(name string, opts []string) []string {
	var out []string
	for _, o := range opts {
		if prefix, _, _ := strings.Cut(o, "."); prefix == storageOptionPrefix[name] {
			out = append(out, o)
		}
	}
	return out
}

// checkAutoOptions refuses, under "auto", an option that belongs to no
// storage driver: no candidate would see it, and it must not be ignored.
func checkAutoOptions(opts []string) error {
	for _, o := range opts {
		key, _, _ := strings.Cut(o, "=")
		prefix, _, _ := strings.Cut(key, ".")
		known := false
		for _, p := range storageOptionPrefix {
			known = known || p == prefix
		}
		if !known {
			return fmt.Errorf("storage option %q belongs to no storage driver (keys are <prefix>.<name>: dm., overlay., aufs., …)", key)
		}
	}
	return nil
}

// startStorage starts the configured storage driver. A named driver that
// cannot run here is fatal, with the plugin's reason (no silent fallback).
// "auto" follows Docker 1.7's graphdriver.New: a driver whose home under
// the root already holds state wins (refusing to start rather than hide
// its images if it fails); otherwise the first driver in priority order
// whose plugin exists and does not refuse the host.
func (d *Daemon) startStorage(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*driver.Storage, error) {
	if cfg.Storage.Driver != AutoStorage {
		home := filepath.Join(cfg.Root, cfg.Storage.Driver)
		_, statErr := os.Stat(home)
		st, err := d.tryStorage(ctx, cfg, logger, cfg.Storage.Driver, cfg.PluginBinary(config.KindStorage), cfg.Storage.Options)
		if err != nil && errors.Is(statErr, os.ErrNotExist) {
			// An empty home made for this failed attempt would count as
			// the driver's state for a later "auto" start.
			_ = os.Remove(home)
		}
		return st, err
	}
	if err := checkAutoOptions(cfg.Storage.Options); err != nil {
		return nil, err
	}
	var prior []string
	for _, name := range storagePriority {
		if name != "vfs" && nonEmptyDir(filepath.Join(cfg.Root, name)) {
			prior = append(prior, name)
		}
	}
	switch {
	case len(prior) > 1:
		return nil, fmt.Errorf("%q contains state of several storage drivers: %s; remove the unused ones or choose one (-s <driver>)", cfg.Root, strings.Join(prior, ", "))
	case len(prior) == 1:
		logger.Info("storage driver auto: the root holds this driver's state", "driver", prior[0])
		return d.tryStorage(ctx, cfg, logger, prior[0], cfg.PluginBinaryFor(config.KindStorage, prior[0]), optionsFor(prior[0], cfg.Storage.Options))
	}
	var tried []string
	for _, name := range storagePriority {
		binary := cfg.PluginBinaryFor(config.KindStorage, name)
		if _, err := os.Stat(binary); err != nil {
			tried = append(tried, name+": no plugin")
			continue
		}
		st, err := d.tryStorage(ctx, cfg, logger, name, binary, optionsFor(name, cfg.Storage.Options))
		if err == nil {
			logger.Info("storage driver auto: chosen", "driver", name)
			return st, nil
		}
		if !refusesHost(err) {
			return nil, err
		}
		// The home made for the attempt must not count as this driver's
		// state at the next start.
		_ = os.Remove(filepath.Join(cfg.Root, name))
		logger.Info("storage driver auto: not usable here", "driver", name, "reason", err)
		tried = append(tried, err.Error())
	}
	return nil, fmt.Errorf("no supported storage backend found (%s)", strings.Join(tried, "; "))
}

func (d *Daemon) tryStorage(ctx context.Context, cfg *config.Config, logger *slog.Logger, name, binary string, options []string) (*driver.Storage, error) {
	logger.Info("starting storage driver", "driver", name, "plugin", binary)
	st, err := d.host.StartStorage(ctx, driver.StorageConfig{
		Name:    name,
		Binary:  binary,
		Home:    filepath.Join(cfg.Root, name),
		Options: options,
	})
	if err != nil {
		return nil, fmt.Errorf("storage driver %s: %w", name, err)
	}
	return st, nil
}

// refusesHost reports a driver's "cannot run on this host" answers, the
// ones after which Docker 1.7 tried the next driver.
func refusesHost(err error) bool {
	return errors.Is(err, storage.ErrNotSupported) || errors.Is(err, storage.ErrPrerequisites) || errors.Is(err, storage.ErrIncompatibleFS)
}

func nonEmptyDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pluggd/pluggd/core/container"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/core/image"
)

// initSuffix names a container's init layer, <id>-init (DOCKER17.md §1).
const initSuffix = "-init"

// Create makes a container from cfg and hc, named name ("" for a random
// name), as POST /containers/create: the image resolved and its
// configuration merged, the init and container layers created, the
// container directory filled. It returns the id and Docker's warnings.
func (s *Containers) Create(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig) (string, []string, error) {
	if cfg == nil {
		cfg = &container.Config{}
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if cfg.Image == "" {
		return "", nil, errdefs.InvalidParameter(errors.New("Config.Image is required"))
	}
	if name != "" {
		var err error
		if name, err = container.ValidateName(name); err != nil {
			return "", nil, err
		}
	}
	if err := s.checkHostConfig(hc); err != nil {
		return "", nil, err
	}
	if err := s.checkDriverCapabilities(cfg, hc); err != nil {
		return "", nil, err
	}
	img, err := s.images.Get(ctx, cfg.Image)
	if err != nil {
		return "", nil, err
	}
	merged := *cfg
	if img.Config != nil {
		mergeImageConfig(&merged, img.Config)
	}
	path, args := entrypointAndArgs(merged.Entrypoint, merged.Cmd)
	if path == "" {
		// Docker 1.7's message (daemon/create.go), a 500 there.
		return "", nil, errors.New("No command specified")
	}

	id := container.NewID()
	if merged.Hostname == "" {
		// Docker's default hostname is the short id (DOCKER17.md §8).
		merged.Hostname = container.ShortID(id)
	}
	if name == "" {
		name = s.store.ReserveRandomName(id)
	} else if err := s.store.ReserveName(name, id); err != nil {
		return "", nil, err
	}
	c := &container.Container{Record: container.Record{
		ID:         id,
		Created:    time.Now().UTC(),
		Path:       path,
		Args:       args,
		Config:     &merged,
		Image:      img.ID,
		Name:       name,
		Driver:     s.storageName,
		ExecDriver: s.execInfo.Name,
		Volumes:    map[string]string{},
		VolumesRW:  map[string]bool{},
		HostConfig: hc,
	}}
	if err := s.createFiles(context.WithoutCancel(ctx), c); err != nil {
		s.store.ReleaseName(name, id)
		return "", nil, err
	}
	s.event(c, "create")
	return id, nil, nil
}

// createFiles creates the layers and the container directory, then adds
// the record; on failure it undoes what it did.
func (s *Containers) createFiles(ctx context.Context, c *container.Container) (err error) {
	id := c.ID
	dir := s.store.Dir(id)
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err := s.storage.Create(ctx, id+initSuffix, c.Image, storage.CreateOptions{MountLabel: c.MountLabel}); err != nil {
		return fmt.Errorf("create init layer: %w", err)
	}
	undo = append(undo, func() { s.removeLayer(ctx, id+initSuffix) })
	if err := s.setupInitLayer(ctx, id+initSuffix); err != nil {
		return err
	}
	if err := s.storage.Create(ctx, id, id+initSuffix, storage.CreateOptions{MountLabel: c.MountLabel}); err != nil {
		return fmt.Errorf("create container layer: %w", err)
	}
	undo = append(undo, func() { s.removeLayer(ctx, id) })
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	if err := s.writeNetworkFiles(c, dir); err != nil {
		return err
	}
	return s.store.Add(c)
}

// removeLayer removes a driver layer; one already gone is fine.
func (s *Containers) removeLayer(ctx context.Context, id string) error {
	err := s.storage.Remove(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrLayerNotFound) {
		s.log.Warn("cannot remove layer", "layer", id, "err", err)
		return err
	}
	return nil
}

// setupInitLayer writes Docker's placeholders into the init layer
// (graph.SetupInitLayer, DOCKER17.md §1): mount points the exec driver
// binds over, so that they exist whatever the image holds.
func (s *Containers) setupInitLayer(ctx context.Context, layer string) (err error) {
	root, err := s.storage.Get(ctx, layer, storage.GetOptions{})
	if err != nil {
		return fmt.Errorf("mount init layer: %w", err)
	}
	defer func() {
		if perr := s.storage.Put(ctx, layer); perr != nil && err == nil {
			err = fmt.Errorf("unmount init layer: %w", perr)
		}
	}()
	for _, p := range []struct {
		path, kind string
	}{
		{"/dev/pts", "dir"},
		{"/dev/shm", "dir"},
		{"/proc", "dir"},
		{"/sys", "dir"},
		{"/.dockerinit", "file"},
		{"/.dockerenv", "file"},
		{"/etc/resolv.conf", "file"},
		{"/etc/hosts", "file"},
		{"/etc/hostname", "file"},
		{"/dev/console", "file"},
		{"/etc/mtab", "/proc/mounts"},
	} {
		full := filepath.Join(root, p.path)
		// Docker left whatever the image already had in place.
		if _, err := os.Lstat(full); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("init layer: %w", err)
		}
		switch p.kind {
		case "dir":
			err = os.MkdirAll(full, 0o755)
		case "file":
			var f *os.File
			if f, err = os.OpenFile(full, os.O_CREATE|os.O_WRONLY, 0o755); err == nil {
				err = f.Close()
			}
		default:
			err = os.Symlink(p.kind, full)
		}
		if err != nil {
			return fmt.Errorf("init layer: %w", err)
		}
	}
	return nil
}

// mergeImageConfig fills what the request left unset from the image, as
// Docker 1.7's runconfig.Merge did.
func mergeImageConfig(c *container.Config, ic *image.Config) {
	if c.User == "" {
		c.User = ic.User
	}
	if len(c.PortSpecs) == 0 {
		c.PortSpecs = ic.PortSpecs
	}
	if len(ic.ExposedPorts) > 0 {
		ports := map[string]struct{}{}
		for p := range ic.ExposedPorts {
			ports[p] = struct{}{}
		}
		for p := range c.ExposedPorts {
			ports[p] = struct{}{}
		}
		c.ExposedPorts = ports
	}
	// The request's variables win; the image's others are appended.
	env := append([]string{}, c.Env...)
	for _, ie := range ic.Env {
		k, _, _ := strings.Cut(ie, "=")
		found := false
		for _, ue := range c.Env {
			if uk, _, _ := strings.Cut(ue, "="); uk == k {
				found = true
				break
			}
		}
		if !found {
			env = append(env, ie)
		}
	}
	if len(env) > 0 {
		c.Env = env
	}
	if len(ic.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range c.Labels {
			labels[k] = v
		}
		c.Labels = labels
	}
	// An entrypoint in the request replaces the image's entrypoint and
	// command together.
	if len(c.Entrypoint) == 0 {
		if len(c.Cmd) == 0 {
			c.Cmd = ic.Cmd
		}
		if c.Entrypoint == nil {
			c.Entrypoint = ic.Entrypoint
		}
	}
	if c.WorkingDir == "" {
		c.WorkingDir = ic.WorkingDir
	}
	if len(ic.Volumes) > 0 {
		vols := map[string]struct{}{}
		for v := range ic.Volumes {
			vols[v] = struct{}{}
		}
		for v := range c.Volumes {
			vols[v] = struct{}{}
		}
		c.Volumes = vols
	}
	if len(c.OnBuild) == 0 {
		c.OnBuild = ic.OnBuild
	}
}

// entrypointAndArgs is Docker's getEntrypointAndArgs: the program is the
// entrypoint's first word, or the command's when there is no entrypoint.
func entrypointAndArgs(entrypoint, cmd []string) (string, []string) {
	full := append(append([]string{}, entrypoint...), cmd...)
	if len(full) == 0 {
		return "", nil
	}
	return full[0], full[1:]
}

// checkHostConfig refuses bad binds before anything is created.
func (s *Containers) checkHostConfig(hc *container.HostConfig) error {
	for _, b := range hc.Binds {
		if _, err := parseBind(b); err != nil {
			return err
		}
	}
	return nil
}

package devmapper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/pluggd/pluggd/core/driver/storage"
	"github.com/pluggd/pluggd/core/errdefs"
	"github.com/pluggd/pluggd/plugins/storage-devmapper/internal/dm"
	"golang.org/x/sys/unix"
)

// Layers: every layer is a thin snapshot of its parent (of the base when
// it has none), mounted on mnt/<id> with the rootfs in mnt/<id>/rootfs,
// as in Docker 1.7's devmapper/driver.go.

// createLayer snapshots parent ("" = the base) as layer id.
func (s *deviceSet) createLayer(id, parent string) error {
	if id == "" {
		return errdefs.InvalidParameter(errors.New("devicemapper: empty layer id"))
	}
	if _, err := fileFor(id); err != nil {
		return errdefs.InvalidParameter(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.devices[id]; ok {
		return fmt.Errorf("devicemapper: layer %s: %w", id, storage.ErrLayerExists)
	}
	origin, ok := s.devices[parent]
	if !ok {
		return fmt.Errorf("devicemapper: parent %s: %w", parent, storage.ErrLayerNotFound)
	}
	d, err := s.addDevice(id, origin.Size, func(newID uint32) error {
		return s.snapshot(origin, newID)
	})
	if err != nil {
		return err
	}
	if parent != "" {
		d.Parent = parent
		if err := s.meta.saveDevice(*d); err != nil {
			return err
		}
	}
	return nil
}

// snapshot runs create_snap with the origin suspended while it is
// active, so the snapshot sees a consistent device (Docker did the same).
func (s *deviceSet) snapshot(origin *deviceInfo, newID uint32) error {
	name := s.deviceName(origin.Hash)
	info, err := s.ctl.Info(name)
	if err != nil {
		return err
	}
	if info.Exists {
		if err := s.ctl.Suspend(name); err != nil {
			return err
		}
		defer func() { _ = s.ctl.Resume(name) }()
	}
	return s.ctl.CreateSnap(s.poolName, newID, uint32(origin.DeviceID))
}

// removeLayer deletes layer id: refused while it is mounted or has
// children.
func (s *deviceSet) removeLayer(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[id]
	if !ok || id == "" {
		return fmt.Errorf("devicemapper: layer %s: %w", id, storage.ErrLayerNotFound)
	}
	if s.mounts[id] > 0 {
		return fmt.Errorf("devicemapper: layer %s is mounted %d times: %w", id, s.mounts[id], storage.ErrLayerInUse)
	}
	for _, c := range s.devices {
		if c.Parent == id && c.Hash != "" {
			return fmt.Errorf("devicemapper: layer %s has child %s: %w", id, c.Hash, storage.ErrLayerInUse)
		}
	}
	if err := s.deleteDevice(d); err != nil {
		return err
	}
	if err := os.RemoveAll(s.mountPoint(id)); err != nil {
		return fmt.Errorf("devicemapper: %w", err)
	}
	return nil
}

func (s *deviceSet) hasLayer(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.devices[id]
	return ok && id != ""
}

func (s *deviceSet) mountPoint(id string) string { return filepath.Join(s.home, "mnt", id) }

// getLayer mounts layer id (once, reference-counted) and returns
// mnt/<id>/rootfs.
func (s *deviceSet) getLayer(id, mountLabel string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[id]
	if !ok || id == "" {
		return "", fmt.Errorf("devicemapper: layer %s: %w", id, storage.ErrLayerNotFound)
	}
	mp := s.mountPoint(id)
	rootfs := filepath.Join(mp, "rootfs")
	if s.mounts[id] > 0 {
		s.mounts[id]++
		return rootfs, nil
	}
	if err := s.activate(d); err != nil {
		return "", err
	}
	if err := os.MkdirAll(mp, 0o755); err != nil {
		_ = s.deactivate(id)
		return "", fmt.Errorf("devicemapper: %w", err)
	}
	// A previous process of the plugin, killed, may have left the layer
	// mounted (the daemon replays its Gets after relaunching us): adopt
	// that mount rather than stack a second one on it, which the last
	// Put would leave behind, keeping the device busy.
	if mounted, err := mountinfo.Mounted(mp); err != nil {
		_ = s.deactivate(id)
		return "", fmt.Errorf("devicemapper: %w", err)
	} else if mounted {
		s.mounts[id] = 1
		return rootfs, nil
	}
	var opts []string
	if s.opts.Filesystem == "xfs" {
		opts = append(opts, "nouuid") // every layer shares the base's uuid
	}
	opts = append(opts, s.opts.MountOptions...)
	if mountLabel != "" {
		opts = append(opts, fmt.Sprintf("context=%q", mountLabel))
	}
	if err := unix.Mount(dm.NodePath(s.deviceName(id)), mp, s.opts.Filesystem, 0, strings.Join(opts, ",")); err != nil {
		_ = s.deactivate(id)
		// A full pool fails the mount with EIO: the filesystem writes
		// at mount, into blocks it shares with its parent.
		return "", s.explainNoSpace(id, fmt.Errorf("devicemapper: mount layer %s on %s: %w", id, mp, err))
	}
	// Docker 1.7: the rootfs is a directory inside the filesystem, and
	// mnt/<id>/id names the layer.
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		s.release(id)
		return "", fmt.Errorf("devicemapper: %w", err)
	}
	idFile := filepath.Join(mp, "id")
	if _, err := os.Stat(idFile); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(idFile, []byte(id), 0o600); err != nil {
			s.release(id)
			return "", fmt.Errorf("devicemapper: %w", err)
		}
	}
	s.mounts[id] = 1
	return rootfs, nil
}

// putLayer drops one reference; the last unmounts and deactivates.
func (s *deviceSet) putLayer(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.devices[id]; !ok || id == "" {
		return fmt.Errorf("devicemapper: layer %s: %w", id, storage.ErrLayerNotFound)
	}
	n := s.mounts[id]
	if n == 0 {
		return errdefs.InvalidParameter(fmt.Errorf("devicemapper: put of layer %s, which is not mounted", id))
	}
	if n > 1 {
		s.mounts[id] = n - 1
		return nil
	}
	if err := s.release(id); err != nil {
		return err
	}
	delete(s.mounts, id)
	return nil
}

// release unmounts mnt/<id> and deactivates the device. The unmount is
// lazy (MNT_DETACH), as Docker 1.7's: a descriptor held for a moment by
// a child of a concurrent fork (between its clone and exec) must not make
// Put fail; deactivate then waits for the filesystem to let go.
func (s *deviceSet) release(id string) error {
	if err := unix.Unmount(s.mountPoint(id), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("devicemapper: unmount layer %s: %w", id, err)
	}
	return s.deactivate(id)
}

// unmountAll releases every mounted layer (daemon shutdown), also those
// a killed process of the plugin left mounted and nobody got again.
func (s *deviceSet) unmountAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for id := range s.devices {
		if s.mounts[id] == 0 {
			if mounted, err := mountinfo.Mounted(s.mountPoint(id)); err != nil || !mounted {
				continue
			}
		}
		if err := s.release(id); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.mounts, id)
	}
	return errors.Join(errs...)
}

// explainNoSpace turns a write error in layer id into one that says the
// thin pool is full, when it is: the filesystem only sees ENOSPC or EIO
// from its device, or EROFS once ext4 has aborted its journal, none of
// which names the pool. The error carries ENOSPC and the System class.
func (s *deviceSet) explainNoSpace(id string, err error) error {
	st, serr := s.ctl.PoolStatus(s.poolName)
	if errors.Is(serr, dm.ErrPoolFailed) {
		return errdefs.System(fmt.Errorf("devicemapper: layer %s: thin pool %s has failed: %w", id, s.poolName, err))
	}
	if serr != nil || !st.OutOfDataSpace() {
		return err
	}
	return errdefs.System(fmt.Errorf("devicemapper: layer %s: thin pool %s is out of data space (%d of %d blocks used): %w (%w)",
		id, s.poolName, st.UsedDataBlocks, st.TotalDataBlocks, unix.ENOSPC, err))
}

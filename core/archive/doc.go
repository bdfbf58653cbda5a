// Package archive reads and writes layer tar streams in Docker's layer
// format for storage drivers: Apply unpacks a layer into a directory,
// safely, optionally recording github.com/vbatts/tar-split metadata;
// Reassemble gives back the exact applied bytes from that metadata and the
// files; Tar and TarChanges write a directory or a list of changes as a
// layer; Changes and OverlayChanges list what a layer changes; ChangesSize
// and DirSize measure it.
//
// Whiteouts come in two forms (see Whiteouts): deleted, for drivers that
// keep every layer as a full tree, or overlayfs whiteouts, for drivers
// whose layers are overlayfs upper dirs.
//
// Apply must never write outside its directory, whatever the stream holds:
// it resolves every path with openat2(RESOLVE_BENEATH) (Linux 5.6 or
// later) and creates the last component relative to its parent's
// descriptor. It runs as the caller (root, to restore owners and devices);
// it does not chroot and it does not mount.
//
// This package does not know about drivers' layouts, ids or mounts; it
// imports core/driver/storage only for the Change type.
package archive

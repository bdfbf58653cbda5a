// Package overlay is pluggd's overlayfs storage driver: each layer is an
// overlayfs upper dir, and a layer is mounted with all its ancestors' dirs
// as lower dirs (the layout Docker later called overlay2; Docker 1.7's
// single-lower "overlay" copied whole trees instead).
//
// Layout below the driver's home:
//
//	<id>/diff/              the layer's own files (overlayfs upper dir)
//	<id>/link               the layer's short name, <short>
//	<id>/lower              l/<short>:l/<short>:...  ancestors, nearest first
//	<id>/parent             the parent's id (absent for a base layer)
//	<id>/work/ <id>/merged/ overlayfs workdir and mount point
//	<id>/tar-split.json.gz  tar-split metadata of the last ApplyDiff
//	<id>/tar-split.parent   the parent that ApplyDiff was given
//	l/<short> -> ../<id>/diff
//
// The short names keep the mount options of deep chains within the
// kernel's one page: when absolute paths do not fit, the mount is made
// from a thread whose working directory is the home, with relative paths.
//
// New is the storage.Factory; plugins/storage-overlay/main.go serves it.
// The driver mounts in the daemon's mount namespace and never unshares it;
// it keeps no state outside its home and no package-level state.
package overlay

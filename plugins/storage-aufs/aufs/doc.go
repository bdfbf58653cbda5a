// Package aufs is pluggd's aufs storage driver, with Docker 1.7's layout
// and semantics (docs in /work/shared/DOCKER17.md §2):
//
//	layers/<id>   the layer's ancestors, one per line, nearest first
//	              (empty for a base layer); its existence is Exists
//	diff/<id>/    the layer's own files, with aufs whiteouts as plain
//	              ".wh.<name>" files and ".wh..wh..opq" opaque markers
//	mnt/<id>/     the union mount point of a layer with parents
//	tar-split/<id>.json.gz  tar-split metadata of ApplyDiff (pluggd's
//	              addition, for a byte-exact Diff)
//
// The parts that need no kernel are pure functions with unit tests:
// branch options (branches.go), the layers file (layers.go), whiteouts on
// plain directories (whiteouts.go, changes.go) and the status (status.go).
// Only Get/Put/Cleanup and the dirperm1 probe mount aufs (mount.go).
//
// New is the storage.Factory; plugins/storage-aufs/main.go serves it. The
// driver mounts in the daemon's mount namespace, keeps no state outside
// its home and no package-level state.
package aufs

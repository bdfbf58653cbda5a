package archive

// Docker's layer format marks deletions with aufs-style names (see the
// storage contract's package documentation).
const (
	// WhiteoutPrefix starts the name of an entry that deletes the rest of
	// its name from the layers below: ".wh.foo" deletes "foo".
	WhiteoutPrefix = ".wh."
	// WhiteoutMetaPrefix starts the names aufs keeps for itself
	// (".wh..wh.plnk", ".wh..wh.aufs"); such entries carry no content of
	// the layer and are skipped.
	WhiteoutMetaPrefix = WhiteoutPrefix + WhiteoutPrefix
	// WhiteoutOpaqueDir inside a directory says the directory hides
	// everything below it in the parent layers.
	WhiteoutOpaqueDir = WhiteoutMetaPrefix + ".opq"

	// overlayOpaqueXattr is how overlayfs marks an opaque directory in an
	// upper dir (Documentation/filesystems/overlayfs.rst, "whiteouts and
	// opaque directories").
	overlayOpaqueXattr = "trusted.overlay.opaque"
	// overlayXattrPrefix covers every xattr overlayfs keeps for itself
	// (opaque, origin, redirect, metacopy, ...). They describe one mount's
	// upper dir and must never travel in a layer tar.
	overlayXattrPrefix = "trusted.overlay."
)

// Whiteouts chooses how whiteout entries are written to (Apply) or read
// from (Tar) a directory.
type Whiteouts int

const (
	// WhiteoutsDelete is for drivers that keep each layer as a full tree:
	// ".wh.X" removes X, ".wh..wh..opq" empties the directory of what it
	// held before this layer. Tar never produces whiteouts in this mode.
	WhiteoutsDelete Whiteouts = iota
	// WhiteoutsOverlay is for overlayfs upper dirs: ".wh.X" becomes a
	// character device 0/0 named X, ".wh..wh..opq" becomes the xattr
	// trusted.overlay.opaque=y on its directory; Tar converts both back.
	WhiteoutsOverlay
)

func (w Whiteouts) String() string {
	switch w {
	case WhiteoutsDelete:
		return "delete"
	case WhiteoutsOverlay:
		return "overlay"
	}
	return "unknown"
}

package storage

import (
	"context"
	"io"
)

// Protocol version of this contract. See the package documentation.
const (
	ProtocolMajor = 1
	ProtocolMinor = 0
)

// ChunkSize is the largest piece of a tar stream sent in one gRPC message.
const ChunkSize = 1 << 20

// Driver is what a storage driver implements. Every method may be called
// concurrently for different ids; calls for the same id are never concurrent
// except Get/Put pairs, which the driver must reference-count.
//
// Ids are opaque strings chosen by the daemon: 64 lower-case hex digits for
// images, with a "-init" suffix for a container's init layer. A driver must
// not interpret them beyond using them as names.
//
// Every method that names a layer returns ErrLayerNotFound (wrapped) when it
// does not exist. A method whose ctx ends returns an error of class
// Canceled or Deadline (errdefs) and leaves the layer removable.
type Driver interface {
	// Info describes the driver. It is called once after the Factory
	// returned; the daemon's plugin host answers later calls from that
	// cached value without reaching the driver.
	Info(ctx context.Context) (Info, error)

	// Create makes a new, empty layer id on top of parent ("" for none).
	// An existing id is ErrLayerExists; a missing parent is ErrLayerNotFound.
	Create(ctx context.Context, id, parent string, opts CreateOptions) error

	// Remove deletes layer id and its contents. Removing a layer that is
	// still mounted (more Gets than Puts) is ErrLayerInUse, and so is
	// removing a layer that has children; the layer is then left intact.
	// Removing a layer that does not exist is ErrLayerNotFound.
	Remove(ctx context.Context, id string) error

	// Get mounts layer id if needed and returns the absolute path of a
	// directory holding the union of the layer and its ancestors. Calls are
	// reference-counted: each Get is balanced by one Put, and the driver
	// unmounts when the count returns to zero. The path is valid in the
	// daemon's mount namespace (a driver must not unshare its own).
	Get(ctx context.Context, id string, opts GetOptions) (string, error)

	// Put releases one reference taken by Get. A Put without a Get is an
	// error of class InvalidParameter and changes nothing.
	Put(ctx context.Context, id string) error

	// Exists reports whether layer id exists.
	Exists(ctx context.Context, id string) (bool, error)

	// Status returns ordered key/value pairs for /info's DriverStatus, with
	// true current values (Docker 1.7's keys for the driver's kind; at least
	// "Backing Filesystem").
	Status(ctx context.Context) ([]StatusPair, error)

	// Cleanup is called when the daemon shuts down: unmount everything the
	// driver mounted. The driver process may be stopped right after.
	Cleanup(ctx context.Context) error

	// Diff returns a tar stream of the changes from parent to id (parent ""
	// means the whole layer) in the format described in the package
	// documentation. parent may be any ancestor of id, not only its direct
	// parent. The caller closes the stream; closing early aborts it and
	// releases whatever the driver took for it (mounts included).
	Diff(ctx context.Context, id, parent string) (io.ReadCloser, error)

	// Changes lists the paths that differ between parent and id, sorted by
	// path. With parent "" every path is an addition.
	Changes(ctx context.Context, id, parent string) ([]Change, error)

	// ApplyDiff unpacks the tar stream diff into layer id, whose parent is
	// parent, and returns the number of bytes of file content written.
	// parent must be the parent id was created on; a driver may refuse any
	// other with an InvalidParameter error. The daemon applies at most one
	// stream to a layer, right after Create.
	//
	// Whiteouts delete from the parents only, never entries of the same
	// stream, except that ".wh.X" followed by a directory entry "X/" means
	// X was replaced by a new directory that hides what the parents held
	// below X (an opaque directory). An empty stream is a valid empty
	// layer. Drivers with ByteExactDiff may refuse, as InvalidParameter,
	// streams they cannot reproduce: duplicate entries and GNU sparse files.
	// Entries that would land outside the layer (".." components, writes
	// through symlinks or hardlinks that leave it) must be refused with an
	// InvalidParameter error or contained in the layer; a stream that is
	// not a valid tar (for example truncated) is an InvalidParameter error.
	// On any error the layer's contents are unspecified: the daemon removes
	// it.
	ApplyDiff(ctx context.Context, id, parent string, diff io.Reader) (int64, error)

	// DiffSize returns the size in bytes of the changes from parent to id.
	DiffSize(ctx context.Context, id, parent string) (int64, error)
}

// Factory starts a driver. It is called once per driver process, with the
// operator's configuration. ctx is valid only until Factory returns: a driver
// that starts background work gives it its own context and stops it in
// Cleanup. A host where the driver cannot work is reported
// with ErrNotSupported, ErrPrerequisites or ErrIncompatibleFS wrapped in a
// message that says why (for example "overlay is not in /proc/filesystems");
// the daemon shows that message and refuses to start with this driver.
type Factory func(ctx context.Context, opts InitOptions) (Driver, error)

// InitOptions is what the daemon tells a driver when starting it.
type InitOptions struct {
	// Home is the driver's own directory, <daemon root>/<driver name>. It
	// exists when Factory is called. The driver keeps all its state below
	// it and must not touch anything else under the daemon root.
	Home string
	// Options are the operator's storage options, in order, as "key=value"
	// strings (the --storage-opt flag and the TOML storage.options table).
	// An unknown key or a bad value is an InvalidParameter error naming
	// the key.
	Options []string
	// DaemonProtocolMinor is the minor contract version the daemon speaks,
	// for drivers that want to offer newer features only when the daemon
	// understands them.
	DaemonProtocolMinor int
}

// CreateOptions are the optional arguments of Create.
type CreateOptions struct {
	// MountLabel is an SELinux context for the layer's mount, or "".
	MountLabel string
	// StorageOpt are per-layer options (for example "size"); honoured only
	// by drivers with Capabilities.LayerSize. Others return an
	// InvalidParameter error when it is not empty.
	StorageOpt map[string]string
}

// GetOptions are the optional arguments of Get.
type GetOptions struct {
	// MountLabel is an SELinux context for the mount, or "".
	MountLabel string
}

// Info describes a running driver.
type Info struct {
	// Name is the driver's name as /info's "Driver" shows it, for example
	// "overlay" or "devicemapper". It is also the name of the driver's home
	// directory under the daemon root.
	Name string
	// Version is the driver's own version string, for logs.
	Version string
	// Capabilities say which optional behaviours the driver offers.
	Capabilities Capabilities
}

// Capabilities are optional behaviours. The daemon decides by these flags,
// never by the driver's name.
type Capabilities struct {
	// ByteExactDiff: Diff of a layer filled by ApplyDiff, against the
	// parent it was applied on, reproduces the applied stream byte for
	// byte, as long as the layer was not written to since (mounting it with
	// Get and reading is fine).
	ByteExactDiff bool
	// LayerSize: Create honours StorageOpt["size"].
	LayerSize bool
	// ReferenceCounted: the driver keeps Get/Put counts across its own
	// restarts (the daemon otherwise replays Gets after a relaunch).
	ReferenceCounted bool
}

// StatusPair is one row of /info's DriverStatus.
type StatusPair struct {
	Key, Value string
}

// ChangeKind says how a path changed.
type ChangeKind int

// The kinds, with Docker's numbering (the /containers/{id}/changes API
// sends these numbers).
const (
	ChangeModify ChangeKind = 0
	ChangeAdd    ChangeKind = 1
	ChangeDelete ChangeKind = 2
)

// Change is one changed path. Path is absolute within the layer ("/etc/x").
// Below an opaque directory, every path the parents held is a ChangeDelete
// unless the layer holds it again, which makes it a ChangeModify.
type Change struct {
	Path string
	Kind ChangeKind
}

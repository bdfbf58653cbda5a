package storage

import "github.com/pluggd/pluggd/core/errdefs"

// Error is the type of this package's sentinel errors. Each carries an
// errdefs class and a stable code that survives the plugin wire.
type Error struct {
	Code    string
	Message string
	Class   errdefs.Class
}

func (e *Error) Error() string             { return e.Message }
func (e *Error) ErrorClass() errdefs.Class { return e.Class }
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels. Wrap them with fmt.Errorf("...: %w", ErrX) to add detail;
// test with errors.Is.
var (
	// ErrNotSupported: the driver cannot run on this host (its kernel
	// feature is missing). Docker 1.7 called this "driver not supported".
	ErrNotSupported = &Error{"not_supported", "driver not supported", errdefs.NotImplementedClass}
	// ErrPrerequisites: a prerequisite (such as the backing filesystem's
	// type) is not met.
	ErrPrerequisites = &Error{"prerequisites", "prerequisites for driver not satisfied (wrong filesystem?)", errdefs.NotImplementedClass}
	// ErrIncompatibleFS: the filesystem under the driver's home cannot be
	// used by this driver.
	ErrIncompatibleFS = &Error{"incompatible_fs", "backing file system is unsupported for this graph driver", errdefs.NotImplementedClass}
	// ErrLayerNotFound: no layer with that id.
	ErrLayerNotFound = &Error{"layer_not_found", "layer not found", errdefs.NotFoundClass}
	// ErrLayerExists: Create of an id that exists.
	ErrLayerExists = &Error{"layer_exists", "layer already exists", errdefs.ConflictClass}
	// ErrLayerInUse: Remove of a layer that is mounted or has children.
	ErrLayerInUse = &Error{"layer_in_use", "layer is in use", errdefs.ConflictClass}
	// ErrTooDeep: the chain of parents is longer than the driver can mount.
	ErrTooDeep = &Error{"too_deep", "too many layers in the chain", errdefs.InvalidParameterClass}
)

// Sentinels lists every sentinel, for the wire glue that maps codes back to
// errors. Drivers do not need it.
func Sentinels() []*Error {
	return []*Error{ErrNotSupported, ErrPrerequisites, ErrIncompatibleFS, ErrLayerNotFound, ErrLayerExists, ErrLayerInUse, ErrTooDeep}
}

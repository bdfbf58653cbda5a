package driver

import (
	"errors"
	"fmt"

	"github.com/pluggd/pluggd/core/errdefs"
)

// ErrUnavailable is matched (errors.Is) by every error the host returns
// because a plugin could not answer: its process died during the call, or
// it is down and relaunching it failed. Such errors are classified
// errdefs.Unavailable.
var ErrUnavailable = errors.New("driver unavailable")

// UnavailableError is the error behind ErrUnavailable.
type UnavailableError struct {
	Kind string // "storage"
	Name string // the configured driver name
	Op   string // the contract method, e.g. "ApplyDiff"
	Err  error  // what happened: the wire error or the relaunch failure
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s driver %q unavailable (%s): %v", e.Kind, e.Name, e.Op, e.Err)
}

func (e *UnavailableError) ErrorClass() errdefs.Class { return errdefs.UnavailableClass }
func (e *UnavailableError) Is(target error) bool      { return target == ErrUnavailable }
func (e *UnavailableError) Unwrap() error             { return e.Err }

package errdefs

// Class names one kind of failure. The zero value is Unknown.
type Class int

// The classes. Their order is part of no contract; use the names.
const (
	Unknown Class = iota
	InvalidParameterClass
	NotFoundClass
	ConflictClass
	NotModifiedClass
	UnavailableClass
	NotImplementedClass
	ForbiddenClass
	UnauthorizedClass
	CanceledClass
	DeadlineClass
	SystemClass
)

var classNames = [...]string{
	Unknown:               "unknown",
	InvalidParameterClass: "invalid parameter",
	NotFoundClass:         "not found",
	ConflictClass:         "conflict",
	NotModifiedClass:      "not modified",
	UnavailableClass:      "unavailable",
	NotImplementedClass:   "not implemented",
	ForbiddenClass:        "forbidden",
	UnauthorizedClass:     "unauthorized",
	CanceledClass:         "canceled",
	DeadlineClass:         "deadline exceeded",
	SystemClass:           "system",
}

func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "unknown"
	}
	return classNames[c]
}

// classified is an error that carries a class. It wraps the cause so that
// errors.Is and errors.As keep working on the original error.
type classified struct {
	class Class
	err   error
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

// Classed lets any error type declare its own class without wrapping, for
// example a driver's typed errors.
type Classed interface {
	ErrorClass() Class
}

func (e *classified) ErrorClass() Class { return e.class }

// Wrap marks err as belonging to class c. A nil err stays nil.
func Wrap(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: c, err: err}
}

// ClassOf returns the class of the outermost classified error in err's chain,
// or Unknown when none is. Context cancellation and deadlines are recognised
// even when nobody classified them.
func ClassOf(err error) Class {
	for e := err; e != nil; {
		if c, ok := e.(Classed); ok {
			return c.ErrorClass()
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if c := ClassOf(inner); c != Unknown {
					return c
				}
			}
			e = nil
		default:
			e = nil
		}
	}
	return contextClass(err)
}

// Constructors, one per class.

func InvalidParameter(err error) error { return Wrap(InvalidParameterClass, err) }
func NotFound(err error) error         { return Wrap(NotFoundClass, err) }
func Conflict(err error) error         { return Wrap(ConflictClass, err) }
func NotModified(err error) error      { return Wrap(NotModifiedClass, err) }
func Unavailable(err error) error      { return Wrap(UnavailableClass, err) }
func NotImplemented(err error) error   { return Wrap(NotImplementedClass, err) }
func Forbidden(err error) error        { return Wrap(ForbiddenClass, err) }
func Unauthorized(err error) error     { return Wrap(UnauthorizedClass, err) }
func System(err error) error           { return Wrap(SystemClass, err) }

// Predicates, one per class.

func IsInvalidParameter(err error) bool { return ClassOf(err) == InvalidParameterClass }
func IsNotFound(err error) bool         { return ClassOf(err) == NotFoundClass }
func IsConflict(err error) bool         { return ClassOf(err) == ConflictClass }
func IsNotModified(err error) bool      { return ClassOf(err) == NotModifiedClass }
func IsUnavailable(err error) bool      { return ClassOf(err) == UnavailableClass }
func IsNotImplemented(err error) bool   { return ClassOf(err) == NotImplementedClass }
func IsForbidden(err error) bool        { return ClassOf(err) == ForbiddenClass }
func IsUnauthorized(err error) bool     { return ClassOf(err) == UnauthorizedClass }
func IsCanceled(err error) bool         { return ClassOf(err) == CanceledClass }
func IsDeadline(err error) bool         { return ClassOf(err) == DeadlineClass }
func IsSystem(err error) bool           { return ClassOf(err) == SystemClass }

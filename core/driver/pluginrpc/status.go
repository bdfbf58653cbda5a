package pluginrpc

import (
	"context"
	"errors"

	"github.com/pluggd/pluggd/core/errdefs"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel pairs a contract's sentinel error with the stable code that
// names it on the wire (storage.Error.Code for storage).
type Sentinel struct {
	Code string
	Err  error
}

// errorDomain marks statuses made by ToStatus, that is errors a driver
// returned, as opposed to statuses made by gRPC itself (a dead socket, an
// unimplemented method).
const (
	errorDomain  = "pluggd.io"
	errorReason  = "DRIVER_ERROR"
	metaClass    = "class"
	metaSentinel = "sentinel"
)

// classCodes is the errdefs class ⇄ gRPC code table. Classes without a
// natural code share one; the exact class travels in the ErrorInfo anyway,
// the code only matters to clients that ignore details.
func classCode(c errdefs.Class) codes.Code {
	switch c {
	case errdefs.InvalidParameterClass:
		return codes.InvalidArgument
	case errdefs.NotFoundClass:
		return codes.NotFound
	case errdefs.ConflictClass:
		return codes.FailedPrecondition
	case errdefs.NotModifiedClass:
		return codes.Aborted
	case errdefs.UnavailableClass:
		return codes.Unavailable
	case errdefs.NotImplementedClass:
		return codes.Unimplemented
	case errdefs.ForbiddenClass:
		return codes.PermissionDenied
	case errdefs.UnauthorizedClass:
		return codes.Unauthenticated
	case errdefs.CanceledClass:
		return codes.Canceled
	case errdefs.DeadlineClass:
		return codes.DeadlineExceeded
	case errdefs.SystemClass:
		return codes.Internal
	}
	return codes.Unknown
}

func codeClass(c codes.Code) errdefs.Class {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return errdefs.InvalidParameterClass
	case codes.NotFound:
		return errdefs.NotFoundClass
	case codes.FailedPrecondition, codes.AlreadyExists:
		return errdefs.ConflictClass
	case codes.Aborted:
		return errdefs.NotModifiedClass
	case codes.Unavailable:
		return errdefs.UnavailableClass
	case codes.Unimplemented:
		return errdefs.NotImplementedClass
	case codes.PermissionDenied:
		return errdefs.ForbiddenClass
	case codes.Unauthenticated:
		return errdefs.UnauthorizedClass
	case codes.Canceled:
		return errdefs.CanceledClass
	case codes.DeadlineExceeded:
		return errdefs.DeadlineClass
	case codes.Internal, codes.DataLoss, codes.ResourceExhausted:
		return errdefs.SystemClass
	}
	return errdefs.Unknown
}

// parseClass inverts errdefs.Class.String. errdefs keeps its table
// private and says the numbering is no contract, so names travel, not
// numbers.
func parseClass(name string) (errdefs.Class, bool) {
	for c := errdefs.Unknown; c <= errdefs.Unknown+64; c++ {
		if c.String() == name {
			return c, true
		}
	}
	return errdefs.Unknown, false
}

// ToStatus is the plugin side of the error boundary: it turns an error a
// driver returned into a gRPC status error whose code follows the error's
// errdefs class and whose google.rpc.ErrorInfo carries the class name and,
// when err wraps one of sentinels, that sentinel's code. The message is
// err.Error(), unchanged. Context errors of the call itself are classified
// as such by errdefs.
func ToStatus(err error, sentinels []Sentinel) error {
	if err == nil {
		return nil
	}
	class := errdefs.ClassOf(err)
	info := &errdetails.ErrorInfo{
		Reason:   errorReason,
		Domain:   errorDomain,
		Metadata: map[string]string{metaClass: class.String()},
	}
	for _, s := range sentinels {
		if errors.Is(err, s.Err) {
			info.Metadata[metaSentinel] = s.Code
			break
		}
	}
	st := status.New(classCode(class), err.Error())
	if withInfo, derr := st.WithDetails(info); derr == nil {
		st = withInfo
	}
	return st.Err()
}

// FromStatus is the daemon side of the error boundary. A status made by
// ToStatus becomes an error with the driver's message, its class (for
// errdefs.Is*) and its sentinel (for errors.Is). Any other status came from
// gRPC itself and becomes an error classified by its code, which IsTransport
// recognises. When ctx is done and the call ended because of it, the
// context's error is returned, so callers see their own cancellation.
func FromStatus(ctx context.Context, err error, sentinels []Sentinel) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if ctx != nil && ctx.Err() != nil && (st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded) {
		return ctx.Err()
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		re := &remoteError{msg: st.Message(), class: codeClass(st.Code())}
		if c, ok := parseClass(info.GetMetadata()[metaClass]); ok {
			re.class = c
		}
		if code := info.GetMetadata()[metaSentinel]; code != "" {
			for _, s := range sentinels {
				if s.Code == code {
					re.sentinel = s.Err
					break
				}
			}
		}
		return re
	}
	return &transportError{code: st.Code(), msg: st.Message()}
}

// remoteError is an error a driver returned, as the daemon sees it.
type remoteError struct {
	msg      string
	class    errdefs.Class
	sentinel error
}

func (e *remoteError) Error() string             { return e.msg }
func (e *remoteError) ErrorClass() errdefs.Class { return e.class }
func (e *remoteError) Unwrap() error             { return e.sentinel }

// transportError is a status that gRPC made, not the driver.
type transportError struct {
	code codes.Code
	msg  string
}

func (e *transportError) Error() string             { return "plugin rpc: " + e.code.String() + ": " + e.msg }
func (e *transportError) ErrorClass() errdefs.Class { return codeClass(e.code) }

// GRPCStatus lets status.FromError see through the conversion.
func (e *transportError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// IsTransport reports whether err is a failure of the connection to the
// plugin (the process died, the socket closed) rather than an error the
// driver returned. The host uses it to decide whether the plugin needs a
// relaunch.
func IsTransport(err error) bool {
	var t *transportError
	if !errors.As(err, &t) {
		return false
	}
	switch t.code {
	case codes.Unavailable, codes.Canceled, codes.Internal, codes.Unknown:
		return true
	}
	return false
}

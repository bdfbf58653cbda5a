// Package errdefs defines the classes of error pluggd distinguishes: not
// found, invalid parameter, conflict, unavailable and so on.
//
// Code anywhere in pluggd wraps an error into a class once, where the cause is
// known (errdefs.NotFound(err)); boundaries translate classes exactly once:
// the plugin glue maps them to and from gRPC status codes, and the API maps
// them to HTTP status codes in a single error handler. Classes are tested with
// the Is* functions, which look through %w wrapping, never by comparing text.
//
// This package imports only the standard library, so driver contracts and
// third-party drivers can depend on it.
package errdefs

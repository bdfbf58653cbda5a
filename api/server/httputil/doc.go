// Package httputil holds the helpers every router's handlers share: JSON
// request bodies, Docker's boolean and integer query values, and the JSON
// message stream that pull, push, load and build answer with.
//
// Helpers return errors classified with core/errdefs and leave writing the
// error response to the server's single error handler; nothing here picks a
// status code for an error.
package httputil

// Package images is the router of the image endpoints of the Remote API:
// import (POST /images/create with fromSrc), list, inspect, history, tag
// and delete.
//
// It decodes requests, calls a Backend (core/image.Service) and shapes the
// answers for the API version a request asked for, with the wire structs of
// api/types. It never writes an error response itself: errors are returned,
// classified with core/errdefs, to the server's error handler, except inside
// an import's progress stream that has already started, where they go
// in-band. It holds no image logic.
package images

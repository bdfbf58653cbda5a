// Package image is pluggd's image store: the image metadata (Docker's image
// JSON v1, DOCKER17.md §5), the repositories that name images, and the
// operations of the images endpoints (import, list, inspect, history, tag,
// delete) on top of a storage.Driver that holds one layer per image.
//
// Metadata lives in a bbolt database at <Root>/images.db; every change is one
// bbolt transaction, so a crash loses nothing acknowledged. Driver layers are
// created before their image record and removed after it is gone; a
// "pending layer" record written before each such driver call lets NewService
// finish or undo whatever a crash interrupted.
//
// The package speaks no HTTP and knows no API versions: the router in
// api/server/images shapes what it returns for the version a client asked.
package image

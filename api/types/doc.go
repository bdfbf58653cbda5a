// Package types holds the wire structs of the Remote API, by resource
// (system.go, image*.go, ...), and the functions that shape them for the
// version a client asked for.
//
// It is data only: no echo, no daemon logic. Field names and order follow
// Docker 1.7 (API v1.19); older shapes are built from the v1.19 struct.
package types

// Package imagetest gives the image store's tests, and those of the routers
// built on it, what they share: the real overlay storage driver in-process
// on a temporary home, and small layer tars built with archive/tar.
//
// It is for tests only; nothing in the daemon imports it.
package imagetest

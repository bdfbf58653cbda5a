// Package reference parses and normalises image names the way Docker does:
// "busybox", "library/busybox" and "docker.io/library/busybox" name the same
// repository, stored under its normalised name and shown in its familiar
// form ("busybox:latest").
//
// It wraps github.com/distribution/reference so that every caller applies
// the same rules (default tag, refusal of digests where Docker 1.7 had
// none) and gets errors classified with core/errdefs. It knows nothing about
// stored images and does no I/O.
package reference

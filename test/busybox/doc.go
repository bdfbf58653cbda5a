// Package busybox builds the test image every pluggd test uses: a minimal
// root filesystem made from Debian's busybox-static, as an uncompressed tar.
//
// Tests never pull images (there is no registry to pull from, and a pulled
// image would make results depend on the network); they build this tar and
// import it. The tar is deterministic: the same busybox binary gives the same
// bytes, so a test can compare what it imported with what it gets back.
package busybox

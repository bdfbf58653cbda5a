// Package dm talks to the kernel's device-mapper and loop drivers through
// their ioctls (linux/dm-ioctl.h, linux/loop.h), in pure Go with
// golang.org/x/sys/unix: no libdevmapper, no cgo, no dmsetup.
//
// It offers only what a thin-pool storage driver needs: read the driver
// version, create, load, resume, remove and query devices, send thin-pool
// messages (create_thin, create_snap, delete, set_transaction_id), and
// attach sparse files to loop devices.
//
// There is no udev where pluggd runs its dm tests (and often none in
// containers either), so after creating a device this package makes the
// /dev/mapper/<name> node itself and removes it with the device, as
// libdevmapper does with DM_DISABLE_UDEV=1.
//
// It must not know about layers, ids or metadata files: that is the
// driver's business (package devmapper).
package dm

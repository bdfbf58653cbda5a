// Package devmapper is pluggd's devicemapper storage driver: Docker 1.7's
// semantics (one thin snapshot per layer on a device-mapper thin pool,
// loop-backed sparse files by default), behind the contract of
// core/driver/storage.
//
// It talks to the kernel through package internal/dm (raw ioctls, no cgo,
// no libdevmapper) and must not depend on udev: there is none in the test
// VM, and Docker's own driver needed an override without it.
//
// State so far: the device set (pool, base device, transactions), layers
// as thin snapshots, Get/Put, Status and the diff methods work and pass
// the storage conformance suite in the test VM (start). New still refuses
// with storage.ErrNotSupported on every host, saying why: no
// device-mapper, or (where it works) that the driver is not enabled yet.
// See the README.
package devmapper

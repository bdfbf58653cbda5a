// Package devmapper is pluggd's devicemapper storage driver: Docker 1.7's
// semantics (one thin snapshot per layer on a device-mapper thin pool,
// loop-backed sparse files by default), behind the contract of
// core/driver/storage.
//
// It talks to the kernel through package internal/dm (raw ioctls, no cgo,
// no libdevmapper) and must not depend on udev: there is none in the test
// VM, and Docker's own driver needed an override without it.
//
// State so far: option parsing and the host check are done; New refuses
// with storage.ErrNotSupported on every host, saying why — no
// device-mapper, or (where device-mapper works) that pool management is
// not written yet. See the README for the plan.
package devmapper

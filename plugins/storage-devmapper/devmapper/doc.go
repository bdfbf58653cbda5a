// Package devmapper is pluggd's devicemapper storage driver: Docker 1.7's
// semantics (one thin snapshot per layer on a device-mapper thin pool,
// loop-backed sparse files by default), behind the contract of
// core/driver/storage.
//
// It talks to the kernel through package internal/dm (raw ioctls, no cgo,
// no libdevmapper) and must not depend on udev: there is none in the test
// VM, and Docker's own driver needed an override without it.
//
// The device set (pool, base device, transactions), layers as thin
// snapshots, Get/Put, Status and the diff methods pass the storage
// conformance suite in the test VM, and the daemon runs on it there
// (TestDaemonInVM). Without device-mapper New refuses with
// storage.ErrNotSupported, saying why. See the README.
package devmapper

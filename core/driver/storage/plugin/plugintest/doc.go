// Package plugintest holds a fake storage driver for testing the storage
// wire and the plugin host without mounts or root: layers are directories
// and each layer's applied tar stream is kept as a file, so Diff returns the
// applied bytes. It implements the contract's rules about ids, parents and
// reference counts, not a union filesystem. Do not use it outside tests.
package plugintest

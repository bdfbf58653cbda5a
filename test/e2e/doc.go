// Package e2e drives the built pluggd daemon and its plugin binaries over a
// unix socket with real clients: the official Go client pinned to API 1.19
// and the docker CLI at /usr/local/bin/docker.
//
// The binaries come from $PLUGGD_BIN (make test sets it to bin/); without
// it, TestMain builds them into a temporary directory. Each test runs its own
// daemon on a fresh root, socket and pidfile, and removes every mount and
// process it made, also when it fails.
package e2e

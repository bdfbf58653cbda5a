// Package storage is the public contract between pluggd and a layer-storage
// driver ("graph driver" in Docker's words), version 1.
//
// It is written for someone implementing a driver outside this repository.
// A driver is a program that keeps a tree of filesystem layers: each layer
// has an id chosen by the daemon and an optional parent, and can be mounted
// as a directory holding the union of itself and its ancestors. The daemon
// stores image layers and containers' writable layers in it. The semantics
// follow Docker 1.7's graphdriver (see Driver's methods for each rule).
//
// # How a driver is run
//
// Drivers run out of process. A driver binary calls
// github.com/pluggd/pluggd/core/driver/storage/plugin.Serve with a Factory;
// the daemon starts the binary, speaks hashicorp/go-plugin's handshake on its
// stdout (nothing else may be written there: log to stderr, which the daemon
// copies into its own log with the plugin's name), negotiates the contract
// version, then calls Factory once with the InitOptions from the operator's
// configuration. The same Factory can be used in-process, which is how the
// conformance suite in storagetest runs a driver without the wire.
//
// # Versions
//
// The contract has a major and a minor version (ProtocolMajor,
// ProtocolMinor). The major version is go-plugin's protocol version: a
// daemon and a driver that share no major version refuse each other at the
// handshake, and the daemon's message names both versions. Within a major
// version, minor versions only add: new optional methods or fields, each
// guarded by a Capabilities flag or by the negotiated minor version, so a
// driver built against an older minor keeps working with a newer daemon.
//
// # Tar streams
//
// Layer contents travel as uncompressed tar streams in Docker's layer
// format: paths relative to the layer root, deletions as ".wh.<name>"
// entries, an opaque directory (one that hides everything below it in the
// parents) as a ".wh..wh..opq" entry inside it, extended attributes as PAX
// "SCHILY.xattr." records. Over the wire a stream is cut into chunks of at
// most ChunkSize bytes sent on a gRPC stream, never one message, because
// go-plugin keeps gRPC's 4 MiB message limit. That is the portable form,
// which every plugin speaks.
//
// A plugin built with this module's plugin.Serve also accepts a faster
// form, negotiated at Init: the daemon starts every plugin with a
// descriptor side channel (a unix socket, named by the environment
// variable PLUGGD_PLUGIN_FD_CHANNEL) and offers to use it; when the plugin
// accepts, each Diff or ApplyDiff gets a pipe passed on that channel
// (SCM_RIGHTS), the tar bytes flow through the pipe, and the gRPC call only
// names the pipe and carries the outcome. A driver sees an io.Reader or
// io.ReadCloser either way and need not care. A plugin written without
// plugin.Serve (another language, another glue) ignores the offer and gets
// chunks. The exact wire rules are in the storage.proto comments.
//
// A driver that reports Capabilities.ByteExactDiff promises that Diff of a
// layer filled by ApplyDiff returns the very bytes that were applied. The
// helper package core/archive gives a driver this for free: it records
// github.com/vbatts/tar-split metadata while applying and reassembles the
// original stream from that metadata and the layer's files.
//
// # Errors
//
// Return the sentinel errors of this package (wrapped with %w and a
// message saying what happened) or errors classified with core/errdefs.
// They survive the wire: the daemon sees the same sentinel and class.
// Anything else reaches the daemon as an unclassified error and becomes an
// HTTP 500 with the message text.
//
// This package imports only the standard library and core/errdefs.
package storage

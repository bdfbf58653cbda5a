// Package config loads the daemon's configuration: defaults, then the TOML
// file (/etc/pluggd/config.toml unless --config names another), then the
// command-line flags, which mirror Docker 1.7's daemon flags.
//
// A key the daemon does not know, or a value it cannot use, is an error that
// names the file, the key and the line: a typo must never silently fall back
// to a default. This package only reads and checks configuration; it starts
// nothing and touches no file other than the one it reads.
package config

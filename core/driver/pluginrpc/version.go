package pluginrpc

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/pluggd/pluggd/core/errdefs"
)

// Version is a contract version. Minor is -1 when only the major version is
// known (go-plugin's handshake carries no minor).
type Version struct {
	Major, Minor int
}

func (v Version) String() string {
	if v.Minor < 0 {
		return fmt.Sprintf("v%d", v.Major)
	}
	return fmt.Sprintf("v%d.%d", v.Major, v.Minor)
}

// VersionError is the daemon's refusal of a plugin whose contract version
// it cannot speak. It is classified NotImplemented.
type VersionError struct {
	Kind   string  // "storage"
	Plugin string  // the plugin's path or configured name
	Theirs Version // what the plugin speaks
	Ours   Version // what the daemon speaks
	// MinMinor is the oldest minor version of Ours.Major the daemon
	// accepts.
	MinMinor int
}

func (e *VersionError) Error() string {
	msg := fmt.Sprintf("%s plugin %q speaks contract %s, this daemon speaks %s", e.Kind, e.Plugin, e.Theirs, e.Ours)
	if e.Theirs.Major == e.Ours.Major && e.Theirs.Minor >= 0 && e.Theirs.Minor < e.MinMinor {
		msg += fmt.Sprintf(" (and needs at least v%d.%d)", e.Ours.Major, e.MinMinor)
	}
	return msg
}

func (e *VersionError) ErrorClass() errdefs.Class { return errdefs.NotImplementedClass }

// CheckVersion returns a *VersionError when a plugin speaking theirs cannot
// be hosted by a daemon speaking ours that accepts minor versions from
// minMinor on. A newer minor is fine: minors only add, and the plugin learns
// the daemon's minor from its InitOptions.
func CheckVersion(kind, plugin string, theirs, ours Version, minMinor int) error {
	if theirs.Major == ours.Major && theirs.Minor >= minMinor {
		return nil
	}
	return &VersionError{Kind: kind, Plugin: plugin, Theirs: theirs, Ours: ours, MinMinor: minMinor}
}

// go-plugin reports a major-version mismatch only as text (its error has no
// type); this is the one place that reads it, to restate it in pluggd's
// terms. See checkProtoVersion in go-plugin's client.go.
var goPluginVersionMismatch = regexp.MustCompile(`(?i)incompatible API version with plugin\. Plugin version: (\d+)`)

// FromHandshakeError turns go-plugin's "incompatible API version" error into
// a *VersionError naming both versions, and returns any other error as is.
func FromHandshakeError(err error, kind, plugin string, ours Version) error {
	if err == nil {
		return nil
	}
	m := goPluginVersionMismatch.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	major, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return err
	}
	return &VersionError{Kind: kind, Plugin: plugin, Theirs: Version{Major: major, Minor: -1}, Ours: ours}
}

package daemon

import "runtime/debug"

// Version is pluggd's own version.
const Version = "0.1.0-dev"

// DockerVersion is the Docker release pluggd answers as in /version and
// /info: the one whose API (v1.19) it serves. Tools check it: swarm classic
// refuses engines below 1.6.
const DockerVersion = "1.7.1"

// gitCommit returns the short commit the binary was built from, when the
// build recorded it (go build without -buildvcs=false in a git tree).
func gitCommit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 7 {
			return s.Value[:7]
		}
	}
	return ""
}

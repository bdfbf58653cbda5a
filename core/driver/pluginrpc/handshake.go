package pluginrpc

import "github.com/hashicorp/go-plugin"

// The magic cookie only stops a user from running a plugin binary by hand
// (go-plugin then prints a hint and exits); it is not a security measure.
const (
	MagicCookieKey   = "PLUGGD_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "b8f1f9a2c4e34d8e9c1f0d6a7e5b3c21-pluggd-driver"
)

// ParentPIDEnv names the environment variable in which the daemon passes
// its pid to a plugin, so the plugin's watchdog notices a reparenting that
// happened before it started watching.
const ParentPIDEnv = "PLUGGD_PARENT_PID"

// Kinds of plugin, as announced in the negotiation and used as go-plugin's
// plugin name.
const (
	KindStorage = "storage"
	KindExec    = "exec"
)

// Handshake is go-plugin's handshake for a contract of the given major
// version. go-plugin compares ProtocolVersion (set per entry of
// VersionedPlugins) so a daemon and a plugin that share no major version
// refuse each other before any RPC.
func Handshake(major int) plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  uint(major),
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

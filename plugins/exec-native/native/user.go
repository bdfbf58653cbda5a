package native

import (
	"fmt"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"

	"github.com/pluggd/pluggd/core/errdefs"
)

// execUser is the resolved identity of a container's process.
type execUser struct {
	UID, GID int
	Groups   []int // supplementary groups
	Home     string
}

// resolveUser resolves spec ("", "name", "uid", "name:group", "uid:gid",
// ...) in the container's /etc/passwd and /etc/group, as Docker 1.7 did
// before starting the process: a name that is not found is an error, a
// numeric id need not be listed. Supplementary groups are the user's groups
// in /etc/group. Symlinks in the rootfs are resolved inside it, so a
// rootfs cannot make the daemon read host files.
func resolveUser(rootfs, spec string) (execUser, error) {
	passwd, err := securejoin.SecureJoin(rootfs, "/etc/passwd")
	if err != nil {
		return execUser{}, err
	}
	group, err := securejoin.SecureJoin(rootfs, "/etc/group")
	if err != nil {
		return execUser{}, err
	}
	u, err := user.GetExecUserPath(spec, &user.ExecUser{Home: "/"}, passwd, group)
	if err != nil {
		return execUser{}, errdefs.InvalidParameter(fmt.Errorf("user %q: %w", spec, err))
	}
	return execUser{UID: u.Uid, GID: u.Gid, Groups: u.Sgids, Home: u.Home}, nil
}

// withHome adds HOME from the passwd entry unless env sets it, as Docker
// 1.7's init did.
func withHome(env []string, home string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "HOME="+home)
}

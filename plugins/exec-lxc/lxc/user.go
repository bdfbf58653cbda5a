package lxc

import (
	"fmt"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"

	"github.com/pluggd/pluggd/core/driver/exec"
	"github.com/pluggd/pluggd/core/errdefs"
)

// defaultPath is Docker 1.7's PATH for a process whose environment has
// none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// resolveUser returns spec with Process.User resolved in the container's
// /etc/passwd and /etc/group to the numeric "uid:gid" Config writes, and
// HOME from the passwd entry unless the environment sets it, as Docker
// 1.7 did before starting the process (lookupUser). Supplementary groups
// are not applied (LXC's init runs the program without any).
func resolveUser(spec exec.ContainerSpec) (exec.ContainerSpec, error) {
	u, err := lookupUser(spec.Rootfs, spec.Process.User)
	if err != nil {
		return spec, err
	}
	p := spec.Process
	p.User = strconv.Itoa(u.Uid) + ":" + strconv.Itoa(u.Gid)
	p.Env = withDefault(p.Env, "HOME", u.Home)
	spec.Process = p
	return spec, nil
}

// lookupUser resolves name ("" for root, a user name or uid, optionally
// ":group" or ":gid") in the /etc/passwd and /etc/group of the root
// filesystem at root: a name that is not found is an InvalidParameter
// error, a numeric id need not be listed, and a uid alone takes its
// passwd entry's group (0 when it has none). Sgids are the user's groups
// in /etc/group. Symlinks are resolved inside root, so a container cannot
// make the driver read host files.
func lookupUser(root, name string) (*user.ExecUser, error) {
	passwd, err := securejoin.SecureJoin(root, "/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := securejoin.SecureJoin(root, "/etc/group")
	if err != nil {
		return nil, err
	}
	u, err := user.GetExecUserPath(name, &user.ExecUser{Home: "/"}, passwd, group)
	if err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("user %q: %w", name, err))
	}
	return u, nil
}

// withDefault adds key=value unless env sets key.
func withDefault(env []string, key, value string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], key+"="+value)
}

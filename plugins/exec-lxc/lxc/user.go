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

// resolveUser returns spec with Process.User resolved in the container's
// /etc/passwd and /etc/group to the numeric "uid:gid" Config writes, and
// HOME from the passwd entry unless the environment sets it, as Docker
// 1.7 did before starting the process: a name that is not found is an
// InvalidParameter error, a numeric id need not be listed, and a uid
// alone takes its passwd entry's group (0 when it has none). Symlinks in
// the rootfs are resolved inside it. Supplementary groups are not applied
// (LXC's init runs the program without any).
func resolveUser(spec exec.ContainerSpec) (exec.ContainerSpec, error) {
	passwd, err := securejoin.SecureJoin(spec.Rootfs, "/etc/passwd")
	if err != nil {
		return spec, err
	}
	group, err := securejoin.SecureJoin(spec.Rootfs, "/etc/group")
	if err != nil {
		return spec, err
	}
	u, err := user.GetExecUserPath(spec.Process.User, &user.ExecUser{Home: "/"}, passwd, group)
	if err != nil {
		return spec, errdefs.InvalidParameter(fmt.Errorf("user %q: %w", spec.Process.User, err))
	}
	p := spec.Process
	p.User = strconv.Itoa(u.Uid) + ":" + strconv.Itoa(u.Gid)
	p.Env = withHome(p.Env, u.Home)
	spec.Process = p
	return spec, nil
}

// withHome adds HOME unless env sets it.
func withHome(env []string, home string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], "HOME="+home)
}

package exectest

import (
	"slices"
	"strings"

	"github.com/pluggd/pluggd/core/driver/exec"
)

func processChecks() []check {
	return []check{
		{name: "DefaultUserIsRoot", run: checkUser("", "0\n0\n")},
		{name: "UserByName", run: checkUser("daemon", "1\n1\n")},
		{name: "UserByUid", run: checkUser("65534", "65534\n65534\n")},
		{name: "UserAndGroup", run: checkUser("nobody:tty", "65534\n5\n")},
		{name: "UidAndGid", run: checkUser("1:5", "1\n5\n")},
		{name: "Args", run: checkArgs},
		{name: "Cwd", run: checkCwd},
		{name: "Env", run: checkEnv},
		{name: "Hostname", run: checkHostname},
	}
}

// processOutput runs spec and returns its stdout, failing on stderr
// output or a non-zero exit.
func (h *harness) processOutput(spec exec.ContainerSpec) string {
	h.t.Helper()
	stdout, stderr, exit := h.output(spec)
	if exit.Code != 0 || stderr != "" {
		h.t.Fatalf("%q: exit %+v, stderr %q, stdout %q", spec.Process.Args, exit, stderr, stdout)
	}
	return stdout
}

// checkUser: User names a user (and group) by name or number, resolved
// in the image's /etc/passwd and /etc/group (test/busybox has daemon 1:1,
// nobody 65534:65534, group tty 5).
func checkUser(user, want string) func(h *harness) {
	return func(h *harness) {
		spec := h.spec("sh", "-c", "id -u; id -g")
		spec.Process.User = user
		if got := h.processOutput(spec); got != want {
			h.t.Errorf("user %q: id -u; id -g printed %q, want %q", user, got, want)
		}
	}
}

// checkArgs: arguments reach the program exactly, empty and spaced ones
// included.
func checkArgs(h *harness) {
	spec := h.spec("sh", "-c", `printf "[%s]" "$@"`, "sh", "a b", "", "c\td", "$HOME", "*")
	if got, want := h.processOutput(spec), "[a b][][c\td][$HOME][*]"; got != want {
		h.t.Errorf("arguments printed %q, want %q", got, want)
	}
}

func checkCwd(h *harness) {
	spec := h.spec("pwd")
	spec.Process.Cwd = "/var/log"
	if got := h.processOutput(spec); got != "/var/log\n" {
		h.t.Errorf("pwd with Cwd /var/log printed %q", got)
	}
}

// checkEnv: the process gets the spec's environment.
func checkEnv(h *harness) {
	spec := h.spec("env")
	spec.Process.Env = append(spec.Process.Env, "FOO=bar baz", "EMPTY=", "WITH_EQUALS=a=b")
	got := strings.Split(strings.TrimSuffix(h.processOutput(spec), "\n"), "\n")
	for _, want := range spec.Process.Env {
		if !slices.Contains(got, want) {
			h.t.Errorf("env lacks %q; it printed %q", want, got)
		}
	}
}

// checkHostname: the container has its own UTS namespace with the spec's
// host name.
func checkHostname(h *harness) {
	spec := h.spec("hostname")
	spec.Hostname = "pluggd-conformance"
	if got := h.processOutput(spec); got != "pluggd-conformance\n" {
		h.t.Errorf("hostname printed %q, want %q", got, "pluggd-conformance\n")
	}
}

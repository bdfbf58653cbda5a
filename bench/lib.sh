# Shared by the bench/ scripts (sourced): a scratch directory on the disk
# under test, pluggd and the reference dockerd on private sockets and roots,
# and small statistics helpers. Everything is removed on exit.
#   PLUGGD_BIN  directory with pluggd, the plugins and busybox-tar (default: bin)
#   BENCH_DIR   where the scratch directory goes (default /var/tmp)

BIN=${PLUGGD_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin}
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pluggd-bench.XXXXXX")
pid= dpid=

bench_cleanup() {
	if [ -n "$pid" ]; then
		curl -fs --unix-socket "$work/s.sock" "http://x/v1.19/containers/json?all=1" 2>/dev/null |
			grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4 |
			while read -r c; do curl -fs --unix-socket "$work/s.sock" -X DELETE "http://x/v1.19/containers/$c?force=1" >/dev/null 2>&1; done || true
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	fi
	if [ -n "$dpid" ]; then
		DOCKER_HOST="unix://$work/d.sock" docker rm -f $(DOCKER_HOST="unix://$work/d.sock" docker ps -aq 2>/dev/null) >/dev/null 2>&1 || true
		kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null || true
	fi
	# Supervisors and shims name their state under $work; their
	# containers die with them.
	pkill -KILL -f -- "$work/" 2>/dev/null || true
	sleep 0.2
	grep -o " $work/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$work"
}
# Under set -e a failing pipeline in the cleanup (grep finding no
# container) would turn a good run's exit status into 1.
trap bench_cleanup EXIT

wait_ping() { # socket
	for _ in $(seq 300); do curl -fs --unix-socket "$1" http://x/_ping >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

start_pluggd() { # [extra pluggd flags, e.g. -e lxc]
	: > "$work/config.toml"
	"$BIN/pluggd" --config "$work/config.toml" -H "unix://$work/s.sock" -g "$work/root" \
		--exec-root "$work/exec" -p "$work/pid" "$@" >> "$work/daemon.log" 2>&1 &
	pid=$!
	wait_ping "$work/s.sock" || { echo "pluggd did not start:" >&2; tail "$work/daemon.log" >&2; exit 1; }
}

# stop_pluggd removes pluggd's containers and stops it (SIGTERM), so that
# start_pluggd can run it again on the same root, e.g. with another driver.
stop_pluggd() {
	[ -n "$pid" ] || return 0
	curl -fs --unix-socket "$work/s.sock" "http://x/v1.19/containers/json?all=1" 2>/dev/null |
		grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4 |
		while read -r c; do curl -fs --unix-socket "$work/s.sock" -X DELETE "http://x/v1.19/containers/$c?force=1" >/dev/null 2>&1; done || true
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	pid=
}

# The reference: Debian's dockerd on a private socket, data and exec roots,
# with no network changes to the host. Sets dpid, or leaves it empty when
# docker.io is not installed.
start_dockerd() {
	command -v dockerd >/dev/null || { echo "dockerd not installed (apt-get install docker.io): no reference numbers" >&2; return 0; }
	dockerd --data-root "$work/docker-root" --exec-root "$work/dexec" -H "unix://$work/d.sock" \
		--pidfile "$work/docker.pid" --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none \
		> "$work/dockerd.log" 2>&1 &
	dpid=$!
	wait_ping "$work/d.sock" || { echo "dockerd did not start:" >&2; tail "$work/dockerd.log" >&2; kill "$dpid"; dpid=; }
}

now() { date +%s%N; }
# time_runs runs a command RUNS times and prints each run's elapsed ms.
time_runs() {
	local t0 t1
	for _ in $(seq "$RUNS"); do
		t0=$(now)
		"$@" >/dev/null
		t1=$(now)
		echo $(( (t1 - t0) / 1000000 ))
	done
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

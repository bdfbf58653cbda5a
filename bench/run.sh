#!/usr/bin/env bash
# `docker run --rm busybox true`, RUNS times (default 20) each, through the
# docker CLI against pluggd and against the reference dockerd (same image
# imported into both), and bare `runc run` of an equivalent bundle; prints
# the medians and ratios. Then memory: RSS of each daemon with its plugins
# or helpers idle, and the RSS added per running container with 20 running.
# Needs root, curl, busybox-static; docker.io and runc for the references.
#   RUNS; PLUGGD_BIN, BENCH_DIR: see lib.sh
set -euo pipefail
RUNS=${RUNS:-20}
N=${CONTAINERS:-20}
. "$(dirname "$0")/lib.sh"

"$BIN/busybox-tar" > "$work/busybox.tar"
start_pluggd
start_dockerd
P=(docker -H "unix://$work/s.sock")
D=(docker -H "unix://$work/d.sock")
export DOCKER_CONFIG="$work/docker-config"
"${P[@]}" import - busybox < "$work/busybox.tar" >/dev/null
[ -n "$dpid" ] && "${D[@]}" import - busybox < "$work/busybox.tar" >/dev/null

# A runc bundle equivalent to the image: the same rootfs, `true` as the
# process, no terminal.
mkdir -p "$work/bundle/rootfs"
tar -xf "$work/busybox.tar" -C "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec 2>/dev/null || true)
if [ -f "$work/bundle/config.json" ]; then
	sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$work/bundle/config.json"
fi

p_runs=$(time_runs "${P[@]}" run --rm busybox true)
echo "pluggd run --rm busybox true (ms): $(echo $p_runs)"
m_p=$(echo "$p_runs" | median)
if [ -n "$dpid" ]; then
	d_runs=$(time_runs "${D[@]}" run --rm --net none busybox true)
	echo "dockerd run --rm busybox true (ms): $(echo $d_runs)"
	m_d=$(echo "$d_runs" | median)
fi
if command -v runc >/dev/null && [ -f "$work/bundle/config.json" ]; then
	i=0
	r_runs=$(for _ in $(seq "$RUNS"); do i=$((i + 1)); t0=$(now); runc --root "$work/runc" run --bundle "$work/bundle" "bench-$i" >/dev/null; t1=$(now); echo $(( (t1 - t0) / 1000000 )); done)
	echo "runc run (ms): $(echo $r_runs)"
	m_r=$(echo "$r_runs" | median)
fi
echo "median: pluggd $m_p ms${m_d:+, dockerd $m_d ms}${m_r:+, runc $m_r ms}"
[ -n "${m_d:-}" ] && echo "ratio pluggd/dockerd = $(ratio "$m_p" "$m_d") (target <= 0.5)"
[ -n "${m_r:-}" ] && echo "ratio pluggd/runc = $(ratio "$m_p" "$m_r")"

# Memory. rss_of sums VmRSS (kB) of the given pids; pss_of sums their
# proportional set size, which splits pages shared between processes (the
# supervisors all map the same binary, as the shims do) instead of counting
# them once per process: the fairer measure of what a container adds.
rss_of() { local t=0 p r; for p in "$@"; do r=$(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0); t=$((t + ${r:-0})); done; echo "$t"; }
pss_of() { local t=0 p r; for p in "$@"; do r=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0); t=$((t + ${r:-0})); done; echo "$t"; }
descendants() { # pid -> itself and every descendant
	local p=$1 c
	echo "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do descendants "$c"; done
}
# pluggd's processes: the daemon, its plugins, and the supervisors (which
# leave the plugin's tree: they are found by their state under $work/exec),
# without the containers themselves.
pluggd_pids() { { descendants "$pid"; pgrep -f -- "$work/exec/" || true; } | sort -u | while read -r p; do
	exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
	case "$exe" in "$BIN"/*) echo "$p" ;; esac; done; }
docker_pids() { { descendants "$dpid"; pgrep -f -- "containerd-shim" || true; } | sort -u | while read -r p; do
	exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
	case "$exe" in */busybox) ;; *) echo "$p" ;; esac; done; }

ps=$(pluggd_pids); idle_p=$(rss_of $ps); idle_pp=$(pss_of $ps)
for i in $(seq "$N"); do "${P[@]}" run -d busybox sleep 1000 >/dev/null; done
sleep 1
ps=$(pluggd_pids); busy_p=$(rss_of $ps); busy_pp=$(pss_of $ps)
echo "pluggd RSS: idle $((idle_p / 1024)) MiB (daemon + plugins); with $N containers $((busy_p / 1024)) MiB; per container $(((busy_p - idle_p) / N)) kB RSS, $(((busy_pp - idle_pp) / N)) kB PSS"
if [ -n "$dpid" ]; then
	ds=$(docker_pids); idle_d=$(rss_of $ds); idle_dp=$(pss_of $ds)
	for i in $(seq "$N"); do "${D[@]}" run -d --net none busybox sleep 1000 >/dev/null; done
	sleep 1
	ds=$(docker_pids); busy_d=$(rss_of $ds); busy_dp=$(pss_of $ds)
	echo "dockerd RSS: idle $((idle_d / 1024)) MiB (dockerd + containerd); with $N containers $((busy_d / 1024)) MiB; per container $(((busy_d - idle_d) / N)) kB RSS, $(((busy_dp - idle_dp) / N)) kB PSS"
fi

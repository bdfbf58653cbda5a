#!/usr/bin/env bash
# `docker run --rm busybox true`, RUNS times (default 20) each, through the
# docker CLI against pluggd with each exec driver, both on overlay and on
# the same root and image: exec-native (libcontainer) and exec-lxc (LXC's
# lxc-start); with Debian's docker.io installed, the reference dockerd too.
# Prints the medians and the ratio lxc/native. The drivers run one after
# the other (one daemon at a time), native first.
# Needs root, curl, busybox-static, Debian's lxc; docker.io for the
# reference.
#   RUNS; PLUGGD_BIN, BENCH_DIR: see lib.sh
set -euo pipefail
RUNS=${RUNS:-20}
. "$(dirname "$0")/lib.sh"

"$BIN/busybox-tar" > "$work/busybox.tar"
P=(docker -H "unix://$work/s.sock")
export DOCKER_CONFIG="$work/docker-config"

declare -A med
for drv in native lxc; do
	start_pluggd -e "$drv"
	name=$(curl -fs --unix-socket "$work/s.sock" http://x/v1.19/info | grep -o '"ExecutionDriver":"[^"]*"' | cut -d'"' -f4)
	driver=$(curl -fs --unix-socket "$work/s.sock" http://x/v1.19/info | grep -o '"Driver":"[^"]*"' | cut -d'"' -f4)
	"${P[@]}" image inspect busybox >/dev/null 2>&1 || "${P[@]}" import - busybox < "$work/busybox.tar" >/dev/null
	"${P[@]}" run --rm busybox true # warm-up, untimed
	runs=$(time_runs "${P[@]}" run --rm busybox true)
	echo "pluggd $driver+$name run --rm busybox true (ms): $(echo $runs)"
	med[$drv]=$(echo "$runs" | median)
	stop_pluggd
done
start_dockerd
if [ -n "$dpid" ]; then
	D=(docker -H "unix://$work/d.sock")
	"${D[@]}" import - busybox < "$work/busybox.tar" >/dev/null
	"${D[@]}" run --rm --net none busybox true >/dev/null
	d_runs=$(time_runs "${D[@]}" run --rm --net none busybox true)
	echo "dockerd run --rm busybox true (ms): $(echo $d_runs)"
	m_d=$(echo "$d_runs" | median)
fi
echo "median: exec-native ${med[native]} ms, exec-lxc ${med[lxc]} ms${m_d:+, dockerd $m_d ms}"
echo "ratio lxc/native = $(ratio "${med[lxc]}" "${med[native]}")"
[ -n "${m_d:-}" ] && echo "ratio native/dockerd = $(ratio "${med[native]}" "$m_d"), lxc/dockerd = $(ratio "${med[lxc]}" "$m_d")"
exit 0

#!/usr/bin/env bash
# `docker exec c true`, RUNS times (default 20) each, through the docker
# CLI into a running busybox container: against pluggd with each exec
# driver (native, then lxc; one daemon at a time, same root and image, both
# on overlay) and against the reference dockerd (Debian's docker.io, own
# socket and root). One untimed warm-up exec each. Prints the medians and
# the ratios pluggd/dockerd and lxc/native.
# Needs root, curl, busybox-static, Debian's lxc; docker.io for the
# reference.
#   RUNS; PLUGGD_BIN, BENCH_DIR: see lib.sh
set -euo pipefail
RUNS=${RUNS:-20}
. "$(dirname "$0")/lib.sh"

"$BIN/busybox-tar" > "$work/busybox.tar"
P=(docker -H "unix://$work/s.sock")
D=(docker -H "unix://$work/d.sock")
export DOCKER_CONFIG="$work/docker-config"

declare -A med
for drv in native lxc; do
	start_pluggd -e "$drv"
	"${P[@]}" images -q busybox | grep -q . || "${P[@]}" import - busybox < "$work/busybox.tar" >/dev/null
	c=$("${P[@]}" run -d busybox sleep 1000)
	"${P[@]}" exec "$c" true
	runs=$(time_runs "${P[@]}" exec "$c" true)
	echo "pluggd -e $drv: exec true (ms): $(echo $runs)"
	med[$drv]=$(echo "$runs" | median)
	stop_pluggd
done
start_dockerd
if [ -n "$dpid" ]; then
	"${D[@]}" import - busybox < "$work/busybox.tar" >/dev/null
	c=$("${D[@]}" run -d --net none busybox sleep 1000)
	"${D[@]}" exec "$c" true
	runs=$(time_runs "${D[@]}" exec "$c" true)
	echo "dockerd: exec true (ms): $(echo $runs)"
	med[dockerd]=$(echo "$runs" | median)
fi
echo "median: native ${med[native]} ms, lxc ${med[lxc]} ms${med[dockerd]:+, dockerd ${med[dockerd]} ms}"
echo "ratio lxc/native = $(ratio "${med[lxc]}" "${med[native]}")"
[ -n "${med[dockerd]:-}" ] && echo "ratio native/dockerd = $(ratio "${med[native]}" "${med[dockerd]}"), lxc/dockerd = $(ratio "${med[lxc]}" "${med[dockerd]}")"
exit 0

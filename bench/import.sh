#!/usr/bin/env bash
# Import of a ~100 MiB layer tar through pluggd's API (POST /images/create,
# fromSrc=-) against `tar -x` of the same tar onto the same filesystem.
# Prints the median of each and their ratio. Needs root, curl, busybox-static.
#   PLUGGD_BIN  directory with pluggd, storage-overlay, busybox-tar (default: bin)
#   RUNS        repetitions (default 5)
#   BENCH_DIR   scratch directory, on the disk under test (default /var/tmp)
set -euo pipefail
BIN=${PLUGGD_BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
RUNS=${RUNS:-5}
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pluggd-bench.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	grep -o " $work/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

"$BIN/busybox-tar" --padding $((100 << 20)) > "$work/layer.tar"
size=$(stat -c %s "$work/layer.tar")
: > "$work/config.toml"
"$BIN/pluggd" --config "$work/config.toml" -H "unix://$work/s.sock" -g "$work/root" \
	--exec-root "$work/exec" -p "$work/pid" > "$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs --unix-socket "$work/s.sock" http://x/_ping >/dev/null 2>&1 && break; sleep 0.1; done

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

api=() tarx=()
for i in $(seq "$RUNS"); do
	sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	t0=$(now)
	out=$(curl -fsS --unix-socket "$work/s.sock" -X POST -H 'Content-Type: application/x-tar' \
		--data-binary @"$work/layer.tar" "http://x/v1.19/images/create?fromSrc=-&repo=bench&tag=$i")
	t1=$(now)
	case "$out" in *error*) echo "import failed: $out" >&2; exit 1 ;; esac
	api+=($(( (t1 - t0) / 1000000 )))
	curl -fsS --unix-socket "$work/s.sock" -X DELETE "http://x/v1.19/images/bench:$i" >/dev/null

	mkdir "$work/x$i"
	sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	t0=$(now)
	tar -xf "$work/layer.tar" -C "$work/x$i"
	t1=$(now)
	tarx+=($(( (t1 - t0) / 1000000 )))
	rm -rf "$work/x$i"
done
m_api=$(printf '%s\n' "${api[@]}" | median)
m_tar=$(printf '%s\n' "${tarx[@]}" | median)
printf 'import of a %d MiB layer tar, %d runs (ms): pluggd API %s | tar -x %s\n' $((size >> 20)) "$RUNS" "${api[*]}" "${tarx[*]}"
printf 'median: pluggd %d ms, tar -x %d ms, ratio pluggd/tar = %s\n' "$m_api" "$m_tar" "$(awk -v a="$m_api" -v b="$m_tar" 'BEGIN{printf "%.2f", a/b}')"

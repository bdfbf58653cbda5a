#!/usr/bin/env bash
# Import of a ~100 MiB layer tar through pluggd's API (POST /images/create,
# fromSrc=-) against `tar -x` of the same tar onto the same filesystem.
# With Debian's docker.io installed, the reference dockerd imports the same
# tar on its own socket and data root in the same run.
# Prints the median of each and their ratios. Needs root, curl, busybox-static.
#   RUNS        repetitions (default 5); PLUGGD_BIN, BENCH_DIR: see lib.sh
set -euo pipefail
RUNS=${RUNS:-5}
. "$(dirname "$0")/lib.sh"

"$BIN/busybox-tar" --padding $((100 << 20)) > "$work/layer.tar"
size=$(stat -c %s "$work/layer.tar")
start_pluggd
start_dockerd

import_via() { # socket, tag -> prints elapsed ms
	local t0 t1 out
	sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
	t0=$(now)
	# --upload-file streams the tar as the docker CLI does; --data-binary @
	# would first read all of it into curl's memory, inside the timing
	# (about 0.5 s of 100 MiB on the reference VM, for either daemon).
	out=$(curl -fsS --unix-socket "$1" -X POST -H 'Content-Type: application/x-tar' \
		--upload-file "$work/layer.tar" "http://x/v1.19/images/create?fromSrc=-&repo=bench&tag=$2")
	t1=$(now)
	case "$out" in *error*) echo "import failed: $out" >&2; return 1 ;; esac
	curl -fsS --unix-socket "$1" -X DELETE "http://x/v1.19/images/bench:$2" >/dev/null
	echo $(( (t1 - t0) / 1000000 ))
}

api=() tarx=() ref=()
for i in $(seq "$RUNS"); do
	[ -n "$dpid" ] && ref+=($(import_via "$work/d.sock" "$i"))
	api+=($(import_via "$work/s.sock" "$i"))

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
printf 'median: pluggd %d ms, tar -x %d ms, ratio pluggd/tar = %s\n' "$m_api" "$m_tar" "$(ratio "$m_api" "$m_tar")"
if [ "${#ref[@]}" -gt 0 ]; then
	m_ref=$(printf '%s\n' "${ref[@]}" | median)
	printf 'reference dockerd %s (ms): %s | median %d ms, ratio pluggd/dockerd = %s\n' \
		"$(dockerd --version | awk '{print $3}' | tr -d ,)" "${ref[*]}" "$m_ref" "$(ratio "$m_api" "$m_ref")"
fi

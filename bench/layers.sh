#!/usr/bin/env bash
# Layer create + mount + write 100 MiB + diff: devicemapper vs overlay, both
# measured in one run-in-vm guest (Debian's kernel: this host has no
# device-mapper), on one scratch ext4 filesystem, by bench/layers driving
# the two plugin binaries. Prints the medians and the ratio.
#   PLUGGD_BIN        plugin binaries (default: bin; built if missing)
#   PLUGGD_RUN_IN_VM  the run-in-vm tool (default: ../shared/vm/run-in-vm)
#   RUNS              timed runs per driver (default 5)
#   SIZE_MIB          MiB written per layer (default 100)
# With --guest it is the part that runs inside the guest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --guest ]; then
	share=$2 bin=$3
	# The scratch filesystem: ext4 on a sparse file in the guest's RAM,
	# mounted with discard so that space given back by either driver
	# (overlay's removed files, devicemapper's dm.blkdiscard) is freed.
	img=/tmp/layers-bench.img mnt=/tmp/layers-bench
	truncate -s 8G "$img"
	mkfs.ext4 -q -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$img"
	mkdir -p "$mnt"
	mount -o loop,discard "$img" "$mnt"
	trap 'umount "$mnt" 2>/dev/null || true; rm -f "$img"' EXIT
	echo "guest: Linux $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) MiB; scratch: ext4 on a loop file in tmpfs"
	"$share/layers" -bin "$bin" -dir "$mnt" -runs "$RUNS" -size-mib "$SIZE_MIB"
	exit
fi

echo "== layer create + mount + write ${SIZE_MIB:-100} MiB + diff: devicemapper vs overlay (run-in-vm guest)"
vm=${PLUGGD_RUN_IN_VM:-}
for c in "$vm" "$PWD/../shared/vm/run-in-vm" /work/shared/vm/run-in-vm; do
	if [ -n "$c" ] && [ -x "$c" ]; then vm=$c; break; fi
	vm=
done
if [ -z "$vm" ]; then
	echo "skipped: no run-in-vm (set PLUGGD_RUN_IN_VM)"
	exit 0
fi
share=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pluggd-bench-layers.XXXXXX")
trap 'rm -rf "$share"' EXIT
go build -o "$share/layers" ./bench/layers
# The plugins go into the share: the guest has its own /tmp, and sees
# other host paths only as they were when it booted.
mkdir "$share/bin"
for p in storage-devmapper storage-overlay; do
	if [ -x "${PLUGGD_BIN:-$PWD/bin}/$p" ]; then
		cp "${PLUGGD_BIN:-$PWD/bin}/$p" "$share/bin/"
	else
		go build -o "$share/bin/$p" "./plugins/$p"
	fi
done
"$vm" --mem 3072 --timeout 1800 --share "$share" -- \
	env RUNS="${RUNS:-5}" SIZE_MIB="${SIZE_MIB:-100}" "$PWD/bench/layers.sh" --guest "$share" "$share/bin"

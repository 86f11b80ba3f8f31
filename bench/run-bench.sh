#!/bin/bash
#
# run-bench.sh: what `make bench` runs.  Starts a gmemfsd of its own on a
# temporary mountpoint and state dir, runs gmembench against it with the
# given arguments, and stops the daemon.  Everything runs in private mount
# and PID namespaces (as the integration tests do), so the FUSE mount, the
# daemon's tmpfs mounts and gmembench's own die with the script however it
# ends; the EXIT trap still stops the daemon by PID and removes the
# temporary directory in the normal case.
#
# Usage: run-bench.sh BUILD_DIR [gmembench arguments...]
# Not for: measuring anything itself (gmembench does).

set -u

build=${1:?usage: run-bench.sh BUILD_DIR [gmembench args...]}
shift
gmemfsd=$build/daemon/gmemfsd
gmembench=$build/bench/gmembench
for f in "$gmemfsd" "$gmembench"; do
	[[ -x $f ]] || { echo "run-bench: $f is missing: run make build" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "run-bench: needs root (FUSE, tmpfs mounts, KVM)" >&2; exit 1; }

if [[ -z ${GM_BENCH_INNER:-} ]]; then
	export GM_BENCH_INNER=1
	exec unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
		-- "$BASH" "$0" "$build" "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmembench-run.XXXXXX") || exit 1
mnt=$tmp/mnt
state=$tmp/state
log=$tmp/gmemfsd.log
pid=""
mkdir "$mnt" "$state"

# Poll "$@" every 0.1 s for at most $1 seconds.
poll() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

live_mount() { [[ $(stat -f -c %t "$mnt" 2>/dev/null) == 65735546 ]]; }
dead() { ! kill -0 "$pid" 2>/dev/null; }
up_or_dead() { live_mount || dead; }

cleanup() {
	local rc=$?
	if [[ -n $pid ]] && ! dead; then
		kill -TERM "$pid"
		poll 10 dead || kill -KILL "$pid"
		wait "$pid" 2>/dev/null
	fi
	umount -l "$mnt" 2>/dev/null
	if [[ $rc -ne 0 && -s $log ]]; then
		echo "run-bench: gmemfsd's log ends with:" >&2
		tail -n 20 "$log" >&2
	fi
	rm -rf --one-file-system "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$gmemfsd" -f --state-dir="$state" "$mnt" >"$log" 2>&1 &
pid=$!
if ! poll 10 up_or_dead || ! live_mount; then
	echo "run-bench: gmemfsd did not mount $mnt" >&2
	exit 1
fi
"$gmembench" --mount "$mnt" "$@"

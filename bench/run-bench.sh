#!/bin/bash
#
# run-bench.sh: what `make bench` runs.  Starts a gmemfsd of its own on a
# temporary mountpoint and state dir, runs gmembench against it with the
# given arguments, and stops the daemon.  Everything runs in private mount
# and PID namespaces (as the integration tests do), so the FUSE mount, the
# daemon's tmpfs mounts and gmembench's own die with the script however it
# ends; the EXIT trap still stops the daemon by PID and removes the
# temporary directory in the normal case.  Starting, polling and stopping
# come from the integration tests' lib.sh.
#
# Usage: run-bench.sh BUILD_DIR [gmembench arguments...]
# Not for: measuring anything itself (gmembench does).

build=${1:?usage: run-bench.sh BUILD_DIR [gmembench args...]}
shift
# shellcheck source=../tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
GMEMFSD=$build/daemon/gmemfsd
gmembench=$build/bench/gmembench
for f in "$GMEMFSD" "$gmembench"; do
	[[ -x $f ]] || { echo "run-bench: $f is missing: run make build" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "run-bench: needs root (FUSE, tmpfs mounts, KVM)" >&2; exit 1; }

if [[ -z ${GM_BENCH_INNER:-} ]]; then
	export GM_BENCH_INNER=1
	exec unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
		-- "$BASH" "$0" "$build" "$@"
fi

GM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gmembench-run.XXXXXX") || exit 1
GM_MNT=$GM_TMP/mnt
GM_STATE=$GM_TMP/state
GM_LOG=$GM_TMP/gmemfsd.log
mkdir "$GM_MNT" "$GM_STATE"
trap gm_cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2119 # the daemon's default options
gm_start || exit 1
"$gmembench" --mount "$GM_MNT" "$@"
rc=$?
gm_stop TERM || rc=1
exit "$rc"

#!/bin/bash
#
# run-bench.sh: what `make bench` runs.  Starts a gmemfsd of its own on a
# temporary mountpoint and state dir, runs gmembench against it with the
# given arguments, and stops the daemon.  Everything runs in private mount
# and PID namespaces (as the integration tests do), so the FUSE mount, the
# daemon's tmpfs mounts and gmembench's own die with the script however it
# ends; the EXIT trap still stops the daemon by PID and removes the
# temporary directory in the normal case.  Starting, polling and stopping
# come from the integration tests' lib.sh.  gmemfsd gets --hugepages with
# the 2 MiB pages two objects of the run need (gmemfs-hugetlb-2m; a
# snapshot's source and its restored copy); it adds them to the kernel's
# pool and gives exactly those back when it stops.  gm-snapbench (the
# snapshot rows) runs after gmembench on the same mount, with the size,
# rounds and --quick of the arguments; --json FILE gives it FILE's name
# with -snapshot before the .json.
#
# With --scale among the arguments, gm-scalebench runs instead (each
# metadata operation at 100 to 100,000 files against a tmpfs; see
# docs/bench.md): the other arguments go to it (--json FILE becomes
# FILE-scale.json, --plot is dropped, --quick means 100, 1000 and 10000
# files), with gmemfsd's PID and the command that starts it again, so it
# ends with a kill -9 and a restart at the largest population.  The
# restarted gmemfsd is gm-scalebench's child, which stops it.
#
# Usage: run-bench.sh BUILD_DIR [--scale] [gmembench or gm-scalebench arguments...]
# Not for: measuring anything itself (gmembench does).

build=${1:?usage: run-bench.sh BUILD_DIR [gmembench args...]}
shift
# shellcheck source=../tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
GMEMFSD=$(realpath "$build/daemon/gmemfsd")
gmembench=$build/bench/gmembench
snapbench=$build/bench/gm-snapbench
scalebench=$build/bench/gm-scalebench
for f in "$GMEMFSD" "$gmembench" "$snapbench" "$scalebench"; do
	[[ -x $f ]] || { echo "run-bench: $f is missing: run make build" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "run-bench: needs root (FUSE, tmpfs mounts, KVM)" >&2; exit 1; }

if [[ -z ${GM_BENCH_INNER:-} ]]; then
	export GM_BENCH_INNER=1
	exec unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
		-- "$BASH" "$0" "$build" "$@"
fi

# 2 MiB pages in one object of the run: gmembench's --size, else its
# default (1 GiB, 128 MiB with --quick); 0 if the size is not whole pages
# (gmembench refuses or skips it).
bench_hugepages() {
	local size="" quick="" n
	while (($#)); do
		case $1 in
		--quick) quick=1 ;;
		--size) size=${2:-}; shift ;;
		esac
		shift
	done
	[[ -n $size ]] || size=$([[ -n $quick ]] && echo 128M || echo 1G)
	case $size in
	[0-9]*[kK]) n=$((${size%?} << 10)) ;;
	[0-9]*[mM]) n=$((${size%?} << 20)) ;;
	[0-9]*[gG]) n=$((${size%?} << 30)) ;;
	*) [[ $size =~ ^[0-9]+$ ]] && n=$size || n=0 ;;
	esac
	echo $((n % (2 << 20) ? 0 : n >> 21))
}

# gm-snapbench's share of gmembench's arguments.
snapbench_args() {
	while (($#)); do
		case $1 in
		--quick) echo "$1" ;;
		--size | --rounds) printf '%s\n%s\n' "$1" "${2:-}"; shift ;;
		--json) printf '%s\n%s\n' --json "${2%.json}-snapshot.json"; shift ;;
		esac
		shift
	done
}

# gm-scalebench's share of the arguments; "--scale" alone says it is wanted.
scalebench_args() {
	while (($#)); do
		case $1 in
		--scale) ;;
		--quick) printf '%s\n%s\n' --files 100,1000,10000 ;;
		--plot) shift ;;
		--json) printf '%s\n%s\n' --json "${2%.json}-scale.json"; shift ;;
		*) echo "$1" ;;
		esac
		shift
	done
}

# The scale run: gmemfsd as make bench starts it, killed with -9 and
# started again by gm-scalebench with the command it is given.
run_scale() {
	local restart rc
	gm_start || exit 1
	restart="exec env --default-signal=INT,QUIT $(printf '%q ' "$GMEMFSD" -f \
		--state-dir="$GM_STATE" "$GM_MNT")>>$(printf '%q' "$GM_LOG") 2>&1"
	"$scalebench" --mount "$GM_MNT" --daemon-pid "$GM_PID" --restart-cmd "$restart" "$@"
	rc=$?
	# gm-scalebench killed ours and stopped the one it restarted; if it
	# ended before its restart (interrupted, failed), ours still runs.
	if gm_alive "$GM_PID"; then
		gm_stop TERM || rc=1
	else
		{ wait "$GM_PID"; } 2>/dev/null
		GM_PID=""
	fi
	gm_poll 10 gm_unmounted || { echo "run-bench: $GM_MNT still mounted" >&2; rc=1; }
	exit "$rc"
}

GM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gmembench-run.XXXXXX") || exit 1
GM_MNT=$GM_TMP/mnt
GM_STATE=$GM_TMP/state
GM_LOG=$GM_TMP/gmemfsd.log
mkdir "$GM_MNT" "$GM_STATE"
trap gm_cleanup EXIT
trap 'exit 130' INT TERM

for a in "$@"; do
	if [[ $a == --scale ]]; then
		mapfile -t sargs < <(scalebench_args "$@")
		run_scale "${sargs[@]}"
	fi
done

pages=$(bench_hugepages "$@")
hugepages=()
((pages > 0)) && hugepages=(--hugepages=2M:"$((2 * pages))")
gm_start "${hugepages[@]}" || exit 1
"$gmembench" --mount "$GM_MNT" "$@"
rc=$?
mapfile -t sargs < <(snapbench_args "$@")
"$snapbench" --mount "$GM_MNT" --dir "$GM_TMP" "${sargs[@]}" || rc=1
gm_stop TERM || rc=1
# What gmemfsd did with the pages it added, from its own log.
grep -h "pool: gave" "$GM_LOG" | sed 's/^/run-bench: /' >&2
exit "$rc"

# shellcheck shell=bash
#
# lib.sh: what every integration test shares: a private mountpoint and state
# directory, starting and stopping gmemfsd, cleanup that leaves no mount and
# no process behind (even when a test fails half-way), and assertions that
# count passes and failures and end with an "N passed, N failed" line.
#
# Environment: GMEMFSD (the daemon binary) and GM_BIN (directory of the
# gm-* helpers), both set by meson; GM_KEEP=1 keeps the private directory
# (logs, state) after the run for debugging.  Not for: test logic of its own.

set -u

GM_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GMEMFSD=${GMEMFSD:-}
GM_BIN=${GM_BIN:-}
GM_PASS=0
GM_FAIL=0
GM_TMP=""	# private directory: MNT, STATE, logs, scratch files
GM_MNT=""
GM_STATE=""
GM_LOG=""	# gmemfsd's stdout and stderr, all runs appended
GM_PID=""	# the running gmemfsd
GM_KIDS=()	# helper processes to stop on exit
GM_EXTRA_STATE=()	# state dirs outside GM_TMP (the daemon's default) to remove
declare -A GM_HOLD_PID=()	# gm-mmap hold processes by name
declare -A GM_HOLD_FD=()	# and the shell's fd on each one's command fifo

gm_say() { echo "# $*"; }

gm_skip() {
	echo "SKIP: $*"
	exit 77
}

# Poll "$@" every 0.1 s until it succeeds, for at most $1 seconds.
gm_poll() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# True while PID is a live (not zombie) process.
gm_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

gm_dead() { ! gm_alive "$1"; }

# Stop one of our own processes by PID: SIGTERM, a bounded wait, SIGKILL.
gm_reap() {
	local pid=$1
	gm_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	gm_poll 5 gm_dead "$pid" || kill -KILL "$pid" 2>/dev/null
	gm_poll 5 gm_dead "$pid"
	wait "$pid" 2>/dev/null
	return 0
}

# Mountpoints, with /proc/self/mounts' octal escapes of space, tab,
# newline and backslash undone.
gm_mount_list() {
	awk '{ print $2 }' /proc/self/mounts |
		sed 's/\\040/ /g; s/\\011/\t/g; s/\\012/\n/g; s/\\134/\\/g'
}

# Mountpoints under directory $1 (default: our private one), deepest first.
gm_our_mounts() {
	# The prefix goes through the environment: awk -v would expand escapes.
	gm_mount_list | P="${1:-$GM_TMP}/" awk 'index($0, ENVIRON["P"]) == 1' | sort -r
}

# Unmount everything under $1; fails if something stays mounted.
gm_umount_under() {
	local m
	while IFS= read -r m; do
		umount -l "$m"
	done < <(gm_our_mounts "$1")
	[[ -z $(gm_our_mounts "$1") ]]
}

# PIDs of processes with one of the files "$@" open (a state dir's lock).
gm_lock_holders() {
	local fd target f
	for fd in /proc/[0-9]*/fd/*; do
		target=$(readlink "$fd" 2>/dev/null) || continue
		for f in "$@"; do
			[[ $target == "$f" ]] || continue
			fd=${fd#/proc/}
			echo "${fd%%/*}"
		done
	done | sort -u
}

gm_cleanup() {
	local rc=$? pid m
	set +e
	for pid in "${GM_KIDS[@]}"; do
		gm_reap "$pid"
	done
	[[ -n $GM_PID ]] && gm_reap "$GM_PID"
	[[ -n $GM_TMP ]] || exit "$rc"
	# A daemonized gmemfsd is not our child: find it by its state lock.
	for pid in $(gm_lock_holders "$GM_STATE/lock" "${GM_EXTRA_STATE[@]/%//lock}"); do
		gm_reap "$pid"
	done
	gm_umount_under "$GM_TMP" || gm_say "cleanup: cannot unmount all of $GM_TMP"
	for m in "${GM_EXTRA_STATE[@]}"; do
		gm_umount_under "$m" && rm -rf --one-file-system "$m"
	done
	if [[ -n $(gm_our_mounts) ]]; then
		gm_say "cleanup: still mounted under $GM_TMP, not removing it"
	elif [[ -n ${GM_KEEP:-} ]]; then
		gm_say "GM_KEEP is set: leaving $GM_TMP"
	else
		rm -rf --one-file-system "$GM_TMP"
	fi
	exit "$rc"
}

# Check the environment and make the private directory.  Exit 77 (skip)
# when the machine cannot run FUSE tests at all.
gm_init() {
	[[ $(id -u) -eq 0 ]] || gm_skip "needs root (FUSE mount, tmpfs mounts in the state dir)"
	[[ -c /dev/fuse ]] || gm_skip "/dev/fuse is missing"
	command -v python3 >/dev/null || gm_skip "python3 is missing (parses .gmemfs/stats)"
	if [[ ! -x $GMEMFSD || ! -d $GM_BIN ]]; then
		echo "GMEMFSD and GM_BIN must name the daemon and the helpers (meson sets them)"
		exit 1
	fi
	umask 022
	GM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gmemfs-it.XXXXXX") || exit 1
	trap gm_cleanup EXIT
	trap 'exit 130' INT TERM
	# Readable by all: a test may act as an unprivileged user in the mount.
	chmod 0755 "$GM_TMP"
	GM_MNT=$(mktemp -d "$GM_TMP/mnt.XXXXXX")
	GM_STATE=$(mktemp -d "$GM_TMP/state.XXXXXX")
	chmod 0755 "$GM_MNT"
	GM_LOG=$GM_TMP/gmemfsd.log
	: >"$GM_LOG"
}

gm_mounted() {
	M="$GM_MNT" awk '$2 == ENVIRON["M"] && $3 ~ /^fuse/ { f = 1 } END { exit !f }' \
		/proc/self/mounts
}

gm_unmounted() { ! gm_mounted; }

gm_mounted_or_dead() { gm_mounted || gm_dead "$GM_PID"; }

# Start gmemfsd in the foreground (backgrounded here) on the private
# mountpoint and state dir (the daemon's default state dir instead if
# GM_DEFAULT_STATE is set), with extra options "$@"; wait up to 10 s for the
# mount.  Returns 1 (after showing the log) if it did not come up.
gm_start() {
	local state=(--state-dir="$GM_STATE")
	[[ -n ${GM_DEFAULT_STATE:-} ]] && state=()
	echo "=== gmemfsd -f ${state[*]} $* $GM_MNT" >>"$GM_LOG"
	# A background job of a script starts with SIGINT ignored, and libfuse
	# leaves ignored signals alone: give gmemfsd the default back, as a
	# terminal user would have it.
	env --default-signal=INT,QUIT \
		"$GMEMFSD" -f "${state[@]}" "$@" "$GM_MNT" >>"$GM_LOG" 2>&1 &
	GM_PID=$!
	if gm_poll 10 gm_mounted_or_dead && gm_mounted; then
		return 0
	fi
	gm_say "gmemfsd did not mount $GM_MNT; its log ends with:"
	tail -n 20 "$GM_LOG" | sed 's/^/#   /'
	return 1
}

# Stop gmemfsd with signal $1 (default TERM).  Returns 0 if it exited
# within 10 s and the mount went away; otherwise it is killed, the mount
# detached, and 1 returned.  Its exit status is left in GM_STOP_STATUS.
GM_STOP_STATUS=""
gm_stop() {
	local sig=${1:-TERM} rc=0
	GM_STOP_STATUS=""
	[[ -n $GM_PID ]] || return 0
	kill -"$sig" "$GM_PID" 2>/dev/null
	if gm_poll 10 gm_dead "$GM_PID"; then
		wait "$GM_PID"
		# shellcheck disable=SC2034 # read by the tests
		GM_STOP_STATUS=$?
	else
		gm_say "gmemfsd ignored SIG$sig for 10 s"
		gm_reap "$GM_PID"
		rc=1
	fi
	GM_PID=""
	if [[ $sig != KILL ]] && ! gm_poll 5 gm_unmounted; then
		gm_say "$GM_MNT still mounted after gmemfsd exited"
		rc=1
	fi
	gm_mounted && umount -l "$GM_MNT"
	return "$rc"
}

# --- assertions -------------------------------------------------------------

gm_pass() {
	GM_PASS=$((GM_PASS + 1))
	echo "ok - $1"
}

gm_fail() {
	GM_FAIL=$((GM_FAIL + 1))
	echo "FAIL - $1"
}

# check NAME CMD...: passes if CMD succeeds; shows its output if not.  CMD
# runs in this shell (not a subshell), so functions that start processes
# or change state (gm_stop, gm_hold_start) keep their effects.
check() {
	local name=$1 out=$GM_TMP/check.out
	shift
	if "$@" >"$out" 2>&1; then
		gm_pass "$name"
	else
		gm_fail "$name"
		gm_say "  command: $*"
		head -n 20 "$out" | sed 's/^/#   /'
	fi
	return 0
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [[ $2 == "$3" ]]; then
		gm_pass "$1"
	else
		gm_fail "$1"
		gm_say "  expected: $2"
		gm_say "  got:      $3"
	fi
}

# check_fails NAME TEXT CMD...: CMD must fail and print TEXT (an strerror
# message such as "Operation not permitted").
check_fails() {
	local name=$1 text=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		gm_fail "$name"
		gm_say "  command succeeded, expected failure: $*"
	elif [[ $out == *"$text"* ]]; then
		gm_pass "$name"
	else
		gm_fail "$name"
		gm_say "  expected \"$text\" from: $*"
		printf '%s\n' "$out" | head -n 5 | sed 's/^/#   /'
	fi
	return 0
}

# check_errno NAME ERRNO OP ARGS...: one system call (gm-sys.py) must end
# with ERRNO ("OK" for success).
check_errno() {
	local name=$1 want=$2 got
	shift 2
	got=$(python3 "$GM_SRC/gm-sys.py" "$@" 2>&1 | tail -n 1)
	check_eq "$name" "$want" "$got"
}

# check_cond NAME EXPR: an arithmetic condition, shown if false.
check_cond() {
	if (($2)); then
		gm_pass "$1"
	else
		gm_fail "$1"
		gm_say "  false: $2"
	fi
}

# End the test: stop the daemon (sanitizers report leaks at exit), check
# its log for sanitizer reports, print the summary line and, if anything
# failed, the log's tail.
gm_done() {
	[[ -n $GM_PID ]] && gm_stop TERM
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$GM_LOG" 2>/dev/null; then
		gm_fail "gmemfsd's log holds a sanitizer report"
		grep -m1 -A20 -E 'Sanitizer|runtime error:' "$GM_LOG" | sed 's/^/#   /'
	else
		gm_pass "no sanitizer report in gmemfsd's log"
	fi
	if ((GM_FAIL > 0)) && [[ -s $GM_LOG ]]; then
		gm_say "gmemfsd log (last 30 lines):"
		tail -n 30 "$GM_LOG" | sed 's/^/#   /'
	fi
	echo "$GM_PASS passed, $GM_FAIL failed"
	((GM_FAIL == 0)) || exit 1
	exit 0
}

# gm_bail REASON: a failure the rest of the test cannot go on after.
gm_bail() {
	gm_fail "$1"
	gm_done
}

# --- helpers ----------------------------------------------------------------

# gm_stats EXPR: evaluate a python expression over the stats JSON, with d
# the whole document and file(PATH) the entry of one file.
gm_stats() {
	python3 - "$GM_MNT/$GMEMFS_STATS" "$1" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    d = json.load(f)
def file(path):
    return next(e for e in d["files"] if e["path"] == path)
print(eval(sys.argv[2]))
EOF
}
GMEMFS_STATS=.gmemfs/stats

# gm_stats_is EXPR VALUE: for polling on a stats figure.
gm_stats_is() { [[ $(gm_stats "$1") == "$2" ]]; }

# statfs figures of the mount, in bytes: "bsize blocks_bytes free_bytes used_bytes".
gm_statfs() {
	local bs blocks bfree
	read -r bs blocks bfree < <(stat -f -c '%S %b %f' "$GM_MNT")
	echo "$bs $((blocks * bs)) $((bfree * bs)) $(((blocks - bfree) * bs))"
}

gm_statfs_used() {
	local f
	read -r -a f < <(gm_statfs)
	echo "${f[3]}"
}

gm_meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# gm_info FILE KEY: one field of gm-info's answer.
gm_info() { "$GM_BIN/gm-info" "$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# Start a gm-mmap hold process named NAME on FILE (SIZE bytes); it answers
# commands sent with gm_hold_cmd.  Returns 1 if it did not map the file.
gm_hold_start() {
	local name=$1 file=$2 size=$3 fifo=$GM_TMP/$1.in fd
	mkfifo "$fifo"
	# Both ends open read-write: no open blocks, a write never blocks even
	# if the helper died, and the helper never sees EOF, so it waits for
	# commands (bounded by its own 300 s limit).
	exec {fd}<>"$fifo"
	GM_HOLD_FD[$name]=$fd
	"$GM_BIN/gm-mmap" "$file" "$size" hold 300 <>"$fifo" >"$GM_TMP/$name.out" 2>&1 &
	GM_HOLD_PID[$name]=$!
	GM_KIDS+=("$!")
	gm_poll 10 grep -qx mapped "$GM_TMP/$name.out" && return 0
	gm_say "hold $name: $(cat "$GM_TMP/$name.out")"
	return 1
}

gm_hold_lines() { wc -l <"$GM_TMP/$1.out"; }

gm_hold_has_lines() { (($(gm_hold_lines "$1") >= $2)); }

# gm_hold_cmd NAME CMD: send one command, print the answer line (30 s bound).
gm_hold_cmd() {
	local name=$1 n
	n=$(gm_hold_lines "$name")
	gm_alive "${GM_HOLD_PID[$name]}" || { echo "hold $name is gone"; return 1; }
	echo "$2" >&"${GM_HOLD_FD[$name]}"
	if ! gm_poll 30 gm_hold_has_lines "$name" $((n + 1)); then
		echo "no answer from hold $name"
		return 1
	fi
	sed -n "$((n + 1))p" "$GM_TMP/$name.out"
}

# gm_hold_stop NAME: ask the holder to unmap and exit; wait (bounded).
gm_hold_stop() {
	local pid=${GM_HOLD_PID[$1]} fd=${GM_HOLD_FD[$1]} i
	echo quit >&"$fd"
	gm_poll 10 gm_dead "$pid" || kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	exec {fd}>&-
	# Forget the PID so cleanup never signals a recycled one.
	for i in "${!GM_KIDS[@]}"; do
		[[ ${GM_KIDS[i]} == "$pid" ]] && unset 'GM_KIDS[i]'
	done
	return 0
}

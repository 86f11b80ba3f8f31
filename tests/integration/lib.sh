# shellcheck shell=bash
#
# lib.sh: what every integration test shares: a private mountpoint and state
# directory, starting and stopping gmemfsd, cleanup that leaves no mount and
# no process behind (even when a test fails half-way, or is killed), and
# assertions that count passes and failures and end with an
# "N passed, N failed" line.
#
# Each test runs in mount and PID namespaces of its own (gm_init runs the
# script again under unshare): every FUSE and tmpfs mount it makes, and
# every process it starts, a daemonized gmemfsd included, dies with it,
# even when meson SIGKILLs a test that timed out and no trap runs.
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
GM_LOG_MARK=0	# check_log reads GM_LOG after this many lines
GM_PID=""	# the running gmemfsd
GM_KIDS=()	# helper processes to stop on exit
GM_EXTRA_STATE=()	# state dirs outside GM_TMP (the daemon's default) to remove
GM_EXTRA_DIRS=()	# directories outside GM_TMP the test made: removed if empty
declare -A GM_KNOBS=()	# global kernel knobs (path -> value at start) put back on exit
declare -A GM_HOLD_PID=()	# gm-mmap hold processes by name
declare -A GM_HOLD_FD=()	# and the shell's fd on each one's command fifo

gm_say() { echo "# $*"; }

gm_skip() {
	echo "SKIP: $*"
	exit 77
}

# gm_require_kvm: fail at once without /dev/kvm.  meson runs the tests that
# call this through tools/test-vm/need.sh --kvm, which runs them in the
# test guest on a machine that has no /dev/kvm: here it is always there.
gm_require_kvm() {
	[[ -c /dev/kvm ]] && return 0
	echo "FAIL: /dev/kvm is missing: run this test through tools/test-vm/need.sh --kvm"
	exit 1
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

# Mount ids of the FUSE mounts at directory $1, live or dead, stacked or
# not.  In /proc/self/mountinfo the id is field 1, the mountpoint field 5
# (escaped as in /proc/self/mounts) and the type the word after " - ".
gm_fuse_mount_ids() {
	M="$1" awk '{
		p = $5
		gsub(/\\040/, " ", p); gsub(/\\011/, "\t", p)
		gsub(/\\012/, "\n", p); gsub(/\\134/, "\\\\", p)
		split(substr($0, index($0, " - ") + 3), rest, " ")
		if (p == ENVIRON["M"] && rest[1] ~ /^fuse/)
			print $1
	}' /proc/self/mountinfo
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
	# After the unmounts: pages a store held can only go back once it is gone.
	for m in "${!GM_KNOBS[@]}"; do
		echo "${GM_KNOBS[$m]}" >"$m" 2>/dev/null
		[[ $(cat "$m") == "${GM_KNOBS[$m]}" ]] ||
			gm_say "cleanup: could not put $m back to ${GM_KNOBS[$m]}: it is $(cat "$m")"
	done
	for m in "${GM_EXTRA_DIRS[@]}"; do
		rmdir "$m" 2>/dev/null || gm_say "cleanup: $m is not empty: left in place"
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

# Check the environment, move into namespaces of our own, and make the
# private directory.  Exit 77 (skip) when the machine cannot run FUSE tests
# at all.  The script runs again (without arguments: no test takes any) as
# PID 1 of a new PID namespace with a private copy of the mount table: when
# it ends, however it ends, the kernel kills what it started and drops
# every mount it made.  The EXIT trap still stops processes by PID and
# unmounts in the normal case.
gm_init() {
	[[ $(id -u) -eq 0 ]] || gm_skip "needs root (FUSE mount, tmpfs mounts in the state dir)"
	[[ -c /dev/fuse ]] || gm_skip "/dev/fuse is missing"
	command -v python3 >/dev/null || gm_skip "python3 is missing (parses .gmemfs/stats)"
	if [[ ! -x $GMEMFSD || ! -d $GM_BIN ]]; then
		echo "GMEMFSD and GM_BIN must name the daemon and the helpers (meson sets them)"
		exit 1
	fi
	if [[ -z ${GM_OUTER_MNT_NS:-} ]]; then
		GM_OUTER_MNT_NS=$(readlink /proc/self/ns/mnt)
		export GM_OUTER_MNT_NS
		# --kill-child: should unshare itself be killed, the namespace goes too.
		exec unshare --mount --propagation private --pid --fork --kill-child \
			--mount-proc -- "$BASH" "$0"
	fi
	if [[ $(readlink /proc/self/ns/mnt) == "$GM_OUTER_MNT_NS" || $$ -ne 1 ]]; then
		echo "not in the private mount and PID namespaces unshare should have made"
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

# Some FUSE mount, live or dead, is at GM_MNT.
gm_mounted() { [[ -n $(gm_fuse_mount_ids "$GM_MNT") ]]; }

gm_unmounted() { ! gm_mounted; }

# A live FUSE mount is on top at GM_MNT: statfs answers with FUSE's magic
# number.  (A dead one fails with ENOTCONN; mount ids cannot tell an old
# mount from a new one, since the kernel hands freed ids out again.)
gm_live_mount() { [[ $(stat -f -c %t "$GM_MNT" 2>/dev/null) == 65735546 ]]; }

gm_live_mount_or_dead() { gm_live_mount || gm_dead "$GM_PID"; }

# What a SIGKILLed gmemfsd leaves: a FUSE mount at GM_MNT that answers
# nothing (ENOTCONN).
gm_dead_mount() { gm_mounted && ! gm_live_mount; }

# Start gmemfsd in the foreground (backgrounded here) on the private
# mountpoint and state dir (the daemon's default state dir instead if
# GM_DEFAULT_STATE is set), with extra options "$@"; wait up to 10 s for a
# live mount (a dead one a killed gmemfsd left does not count).  Returns 1
# (after showing the log) if it did not come up.
# The line of README.md's Install block (the sh block after the
# "<!-- install:" marker) that starts with $1, its comment cut off: tests
# run the README's commands as written.
gm_readme_cmd() {
	awk -v p="$1" '/^<!-- install:/ { mark = 1; next }
		mark && /^```sh$/ { inb = 1; next }
		inb && /^```$/ { exit }
		inb && index($0, p) == 1 { sub(/[ \t][ \t]+#.*$/, ""); print; exit }' \
		"$GM_SRC/../../README.md"
}

# gm_run_vmm NAME CMD...: run a VMM helper (gm-lazy, gm-guest) for at
# most 120 s, relay its result lines, and check its exit status.
gm_run_vmm() {
	local name=$1 out=$GM_TMP/$1.out rc
	shift
	timeout 120 "$@" >"$out" 2>&1
	rc=$?
	gm_relay "$name" "$out"
	check_eq "$name: the VMM's exit status" 0 "$rc"
}

# gm_vmm_fig NAME FIGURE: a figure of the session line VMM NAME printed.
gm_vmm_fig() { sed -n "s/^# session .*\b$2=\([0-9]*\).*/\1/p" "$GM_TMP/$1.out"; }

# Remember global kernel knob $1's value now; cleanup writes it back.
# Integration tests run one at a time (meson: is_parallel false), so the
# value read here is nobody else's change.
gm_knob_keep() { GM_KNOBS[$1]=$(cat "$1"); }

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
	if gm_poll 10 gm_live_mount_or_dead && gm_live_mount; then
		return 0
	fi
	gm_say "gmemfsd did not mount $GM_MNT; its log ends with:"
	tail -n 20 "$GM_LOG" | sed 's/^/#   /'
	return 1
}

# Stop gmemfsd with signal $1 (default TERM); its exit status is left in
# GM_STOP_STATUS.  SIGKILL leaves the mount behind, dead, as a crash would:
# the next gmemfsd must clear it (gm_cleanup unmounts it if none does).
# Any other signal must end gmemfsd within 10 s, with exit status 0 and the
# mount gone; if not, 1 is returned (gmemfsd killed, its mount detached).
GM_STOP_STATUS=""
gm_stop() {
	local sig=${1:-TERM} rc=0
	GM_STOP_STATUS=""
	[[ -n $GM_PID ]] || return 0
	kill -"$sig" "$GM_PID" 2>/dev/null
	if gm_poll 10 gm_dead "$GM_PID"; then
		wait "$GM_PID"
		GM_STOP_STATUS=$?
	else
		gm_say "gmemfsd ignored SIG$sig for 10 s"
		gm_reap "$GM_PID"
		rc=1
	fi
	GM_PID=""
	[[ $sig == KILL ]] && return "$rc"
	if [[ -n $GM_STOP_STATUS && $GM_STOP_STATUS != 0 ]]; then
		gm_say "gmemfsd exited with status $GM_STOP_STATUS after SIG$sig"
		rc=1
	fi
	if ! gm_poll 5 gm_unmounted; then
		gm_say "$GM_MNT still mounted after gmemfsd exited"
		umount -l "$GM_MNT"
		rc=1
	fi
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
# message such as "Operation not permitted"; never empty).
check_fails() {
	local name=$1 text=$2 out
	shift 2
	if [[ -z $text ]]; then
		gm_fail "$name"
		gm_say "  check_fails wants the message the failure prints"
		return 0
	fi
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

# gm_relay NAME FILE: a helper's "ok - "/"FAIL - " lines in FILE become
# this test's results ("NAME: ..." unless NAME is empty); other lines are
# shown as they are.
gm_relay() {
	local prefix=${1:+$1: } line
	while IFS= read -r line; do
		case $line in
		"ok - "*) gm_pass "$prefix${line#ok - }" ;;
		"FAIL - "*) gm_fail "$prefix${line#FAIL - }" ;;
		*) echo "$line" ;;
		esac
	done <"$2"
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

# gm_gmem_fds PID: how many guest_memfds PID holds open.  Older kernels
# make them anon inodes named [kvm-gmem]; newer ones (7.3) put them on a
# filesystem of their own, whose magic is GUEST_MEMFD_MAGIC ("GMEM").
gm_gmem_fds() {
	local fd n=0
	for fd in "/proc/$1/fd"/*; do
		if [[ $(readlink "$fd" 2>/dev/null) == 'anon_inode:[kvm-gmem]' ||
			$(stat -f -L -c %t "$fd" 2>/dev/null) == 474d454d ]]; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

# gm_as_nobody CMD...: run CMD as user and group 65534, no other groups.
gm_as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# gm_log_mark: from here on, check_log reads only what gmemfsd logs next.
gm_log_mark() { GM_LOG_MARK=$(wc -l <"$GM_LOG"); }

# check_log NAME TEXT: gmemfsd logged a line holding TEXT since the last
# gm_log_mark.
check_log() {
	if tail -n +$((GM_LOG_MARK + 1)) "$GM_LOG" | grep -qF -- "$2"; then
		gm_pass "$1"
	else
		gm_fail "$1"
		gm_say "  no line holding \"$2\" in gmemfsd's log after line $GM_LOG_MARK;" \
			"the log ends with:"
		tail -n 5 "$GM_LOG" | sed 's/^/#   /'
	fi
}

# check_pool_agrees: statfs and the stats view report the same use.
check_pool_agrees() {
	check_eq "statfs used = stats pool.used" "$(gm_statfs_used)" \
		"$(gm_stats 'd["pool"]["used"]')"
}

# check_no_data_requests: no read() or write() reached gmemfsd: FUSE
# passthrough served them all.
check_no_data_requests() {
	check_eq "no read or write request reached the daemon" "read 0 write 0" \
		"$(gm_stats '"read %d write %d" % (d["requests"]["read"], d["requests"]["write"])')"
}

# check_stats_readonly: the stats view cannot be written, truncated or
# removed, nothing can be made next to it, and it stays valid JSON.
check_stats_readonly() {
	local f=$GM_MNT/$GMEMFS_STATS
	# shellcheck disable=SC2016 # the inner shell expands $1
	check_fails "writing the stats file is refused" "Permission denied" \
		bash -c 'echo x >"$1"' _ "$f"
	check_fails "truncating the stats file is refused" "Permission denied" \
		truncate -s 0 "$f"
	check_fails "creating a file in .gmemfs is refused" "Operation not permitted" \
		touch "${f%/*}/new"
	check_fails "removing the stats file is refused" "Operation not permitted" rm -f "$f"
	check "the stats file is still valid JSON" gm_stats 'd["pool"]["budget"]'
}

# End the test: stop the daemon (sanitizers report leaks at exit) and check
# that SIGTERM ended it with status 0 and unmounted, check its log for
# sanitizer reports, print the summary line and, if anything failed, the
# log's tail.
gm_done() {
	if [[ -n $GM_PID ]]; then
		check "at the end, SIGTERM stops gmemfsd and unmounts" gm_stop TERM
		check_eq "at the end, gmemfsd's exit status is 0" 0 "$GM_STOP_STATUS"
	fi
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

# gm_statfs_used_is BYTES: for polling on the pool's use.
gm_statfs_used_is() { [[ $(gm_statfs_used) == "$1" ]]; }

gm_meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# gm_info FILE KEY, gm_info --fd N KEY: one field of gm-info's answer about
# a file, or about one of this shell's file descriptors.
gm_info() {
	local what=("$1")
	if [[ $1 == --fd ]]; then
		what+=("$2")
		shift
	fi
	"$GM_BIN/gm-info" "${what[@]}" | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# gm_pagesize PATH: the page-size policy getfattr shows (or its error).
gm_pagesize() {
	getfattr --absolute-names --only-values -n user.gmemfs.pagesize "$1" 2>&1
}

# gm_tree: what a restart must bring back of the mount's tree (.gmemfs
# left out): one sorted line per fact, the path relative to the mount first.
#   PATH TYPE MODE UID:GID SIZE NLINK INO RDEV
#   PATH xattr NAME=VALUE      every name listxattr gives
#   PATH sha256 HASH           regular files
#   PATH target TARGET         symlinks
#   PATH times A M C           directories and nodes: atime, mtime, ctime (ns)
#   PATH mtime M               regular files (their atime moves as this reads them)
gm_tree() {
	python3 - "$GM_MNT" <<'EOF'
import hashlib, os, stat, sys

root = sys.argv[1]
lines = []

def entry(path, rel):
    st = os.lstat(path)
    kind = stat.filemode(st.st_mode)[0].replace("-", "f")
    lines.append("%s %s %o %d:%d %d %d %d %x" % (rel, kind, stat.S_IMODE(st.st_mode),
                 st.st_uid, st.st_gid, st.st_size, st.st_nlink, st.st_ino, st.st_rdev))
    if kind == "f":
        lines.append("%s mtime %d" % (rel, st.st_mtime_ns))
    else:
        lines.append("%s times %d %d %d" % (rel, st.st_atime_ns, st.st_mtime_ns,
                                              st.st_ctime_ns))
    if kind == "l":
        lines.append("%s target %s" % (rel, os.readlink(path)))
    for name in sorted(os.listxattr(path, follow_symlinks=False)):
        value = os.getxattr(path, name, follow_symlinks=False)
        lines.append("%s xattr %s=%r" % (rel, name, value))
    if kind == "f":
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        lines.append("%s sha256 %s" % (rel, h.hexdigest()))

entry(root, ".")
for top, dirs, files in os.walk(root):
    if top == root and ".gmemfs" in dirs:
        dirs.remove(".gmemfs")
    for name in dirs + files:
        path = os.path.join(top, name)
        entry(path, "./" + os.path.relpath(path, root))
print("\n".join(sorted(lines)))
EOF
}

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

# gm_hold_stop NAME: ask the holder to unmap and exit; wait (bounded).  A
# holder that does not quit within 10 s is a failure (and is killed).
gm_hold_stop() {
	local pid=${GM_HOLD_PID[$1]} fd=${GM_HOLD_FD[$1]}
	echo quit >&"$fd"
	if ! gm_poll 10 gm_dead "$pid"; then
		gm_fail "hold $1 quits when asked (it had to be killed with SIGKILL)"
		kill -KILL "$pid"
	fi
	exec {fd}>&-
	gm_kid_done "$pid"
	return 0
}

# Stop a helper in GM_KIDS (gm_reap: it may have ended by itself), and
# forget its PID so cleanup never signals a recycled one.
gm_kid_done() {
	local i
	gm_reap "$1"
	for i in "${!GM_KIDS[@]}"; do
		[[ ${GM_KIDS[i]} == "$1" ]] && unset 'GM_KIDS[i]'
	done
}

#!/bin/bash
#
# t-lazy-crash: a lazy restore outlives kill -9 of gmemfsd.  A gm-lazy VMM
# restores a KVM guest's memory lazily; while host threads of it fault
# the rest of the memory, gmemfsd is killed with SIGKILL:
#   (a) gmemfs's handshake, anonymous memory: gmemfsd is started again on
#       the same state dir, libgmemfs's guard hands the uffd back
#       (RESUME_LAZY), the units its record says are placed are not
#       served again, and the guest then checks every page; the stall the
#       faulting threads saw is printed;
#   (b) the same in MINOR mode (PATH: a mount file mapped shared);
#   (c) Firecracker's handshake (gmemctl serve-uffd): the VMM never hands
#       its uffd again; the restarted daemon takes it back from the VMM
#       (pidfd_getfd) and the guest checks every page;
#   (d) no daemon comes back within the grace period: the VMM's access to
#       memory nobody restored gets SIGBUS, never zeros;
#   (e) the snapshot changes while the daemon is dead: the restarted
#       daemon refuses to resume (ESTALE, a log line naming the file), and
#       the VMM gets SIGBUS.
# Also: a torn record in the state dir is refused with its reason and
# removed, and new session ids stay above every recorded one.
# Not for: lazy restore without a crash (t-lazy.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_require_kvm
[[ -c /dev/userfaultfd ]] || gm_skip "/dev/userfaultfd is missing"
GMEMCTL=${GMEMCTL:-$GM_BUILD_ROOT/tools/gmemctl/gmemctl}
gm_init

MIB=32
SEED=0x5eed1a2e
POOL=--pool-size=$((6 * MIB))M
gm_start "$POOL" || gm_bail "gmemfsd mounts"
M=$GM_MNT
SNAP=$GM_TMP/vm.snap
LAZY=$GM_BIN/gm-lazy

# shellcheck disable=SC2317 # called through check and gm_poll
no_sessions() { [[ $("$GMEMCTL" --json sessions "$M") == "[]" ]]; }
records() { find "$GM_STATE/lazy" -name '*.rec' 2>/dev/null | wc -l; }
# shellcheck disable=SC2317
no_records() { [[ $(records) == 0 ]]; }

gm_run_vmm source "$LAZY" source "$M" src.ram $MIB $SEED
check "gmemctl snapshot of the source file" "$GMEMCTL" snapshot "$M/src.ram" "$SNAP"

# crash_start NAME ARGS...: a gm-lazy VMM (its pid in VMM) runs ARGS in
# the background, writing to $GM_TMP/NAME.out; once its threads fault,
# gmemfsd is killed with SIGKILL.
crash_start() {
	local name=$1
	shift
	"$@" >"$GM_TMP/$name.out" 2>&1 &
	VMM=$!
	GM_KIDS+=("$VMM")
	check "$name: the VMM is mid-restore" gm_poll 30 grep -q stalled "$GM_TMP/$name.out"
	check_cond "$name: the session is recorded in the state dir" "$(records) > 0"
	gm_stop KILL
}

# crash_end NAME: the VMM's exit status must be 0 within 60 s.
crash_end() {
	local rc
	check "$1: the VMM finishes within 60 s" gm_poll 60 gm_dead "$VMM"
	gm_dead "$VMM" || gm_reap "$VMM"
	wait "$VMM"
	rc=$?
	gm_relay "$1" "$GM_TMP/$1.out"
	check_eq "$1: the VMM's exit status" 0 "$rc"
}

# --- (a) gmemfs's handshake, anonymous memory ---
crash_start anon env GMEMFS_LAZY_GRACE_MS=30000 "$LAZY" restore --crash "$M" "$SNAP" $MIB $SEED
gm_log_mark
gm_start "$POOL" || gm_bail "gmemfsd mounts again after kill -9"
check "anon: libgmemfs's guard resumed the session" \
	gm_poll 30 grep -q "resumed by the restarted daemon" "$GM_TMP/anon.out"
check_log "anon: the daemon resumed it from its record" "resumed, serving"
check_log "anon: units placed before the kill are not served again" \
	"units were in before the restart"
kill -USR1 "$VMM"
crash_end anon
grep '^# stall across' "$GM_TMP/anon.out" | sed 's/^# /# anon: /'
check "anon: the record is gone once the VMM exited" gm_poll 10 no_records

# --- (b) MINOR mode: a mount file mapped shared ---
crash_start minor env GMEMFS_LAZY_GRACE_MS=30000 \
	"$LAZY" restore --crash --shm minor.ram "$M" "$SNAP" $MIB $SEED
gm_log_mark
gm_start "$POOL" || gm_bail "gmemfsd mounts again after kill -9"
check "minor: libgmemfs's guard resumed the session" \
	gm_poll 30 grep -q "resumed by the restarted daemon" "$GM_TMP/minor.out"
kill -USR1 "$VMM"
crash_end minor
check "minor: the file holds the source's bytes after the restore" cmp "$M/minor.ram" "$M/src.ram"
rm -f "$M/minor.ram"
check "minor: the record is gone once the VMM exited" gm_poll 10 no_records

# --- (c) Firecracker's handshake: the daemon takes the uffd back ---
SOCK=$GM_TMP/fc.sock
"$GMEMCTL" serve-uffd --mount="$M" "$SNAP" "$SOCK" >"$GM_TMP/serve.out" 2>&1 &
SERVE=$!
GM_KIDS+=("$SERVE")
check "fc: serve-uffd listens" gm_poll 10 test -S "$SOCK"
crash_start fc "$LAZY" fc "$SOCK" $MIB $SEED 0 stall
gm_log_mark
gm_start "$POOL" || gm_bail "gmemfsd mounts again after kill -9"
check_log "fc: the restarted daemon took the VMM's uffd back and resumed" "resumed, serving"
kill -USR1 "$VMM"
crash_end fc
gm_reap "$SERVE"
check "fc: the record is gone once the VMM exited" gm_poll 10 no_records

# --- (d) no daemon within the grace period ---
crash_start unserved env GMEMFS_LAZY_GRACE_MS=1000 \
	"$LAZY" restore --crash-unserved "$M" "$SNAP" $MIB $SEED
crash_end unserved
check "unserved: the guard says why" \
	grep -q "no daemon took it back within the grace period" "$GM_TMP/unserved.out"
# A torn record beside it: refused with a reason, removed, its id not reused.
head -c 100 /dev/urandom >"$GM_STATE/lazy/99.rec"
gm_log_mark
gm_start "$POOL" || gm_bail "gmemfsd mounts again after kill -9"
check "unserved: the restarted daemon drops the record of the dead VMM" gm_poll 10 no_records
check_log "a torn record is refused with its reason" "lazy session 99: its record is unreadable"

# --- (e) the snapshot changed while the daemon was dead ---
cp "$SNAP" "$GM_TMP/moved.snap"
cp "$SNAP.idx" "$GM_TMP/moved.snap.idx"
crash_start stale env GMEMFS_LAZY_GRACE_MS=30000 \
	"$LAZY" restore --crash-unserved "$M" "$GM_TMP/moved.snap" $MIB $SEED
touch -d '2001-01-01' "$GM_TMP/moved.snap"
gm_log_mark
gm_start "$POOL" || gm_bail "gmemfsd mounts again after kill -9"
crash_end stale
check_log "stale: new sessions get ids above every recorded one" "resuming session 100:"
check_log "stale: the daemon names the changed snapshot file" "moved.snap changed since"
check "stale: the guard says the daemon refused" \
	grep -q "the daemon refused to resume it" "$GM_TMP/stale.out"

check "the daemon still serves after all that" gm_poll 10 no_sessions
gm_done

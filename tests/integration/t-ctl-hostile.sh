#!/bin/bash
#
# t-ctl-hostile: malformed, truncated and hostile control messages (bad
# lengths, unknown commands and attributes, nested garbage, fds where none
# are expected, huge attribute counts, paths that try to leave the mount)
# each get their error while the connection, the other files and the daemon
# carry on; more than 64 connections are refused without harm, and
# running out of fds makes the daemon wait, not spin; a stale
# socket from a killed daemon is replaced, a live one is
# never taken over; a socket path longer than sun_path works.
# Not for: the commands themselves (t-ctl.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

gm_start --pool-size=128M || gm_bail "gmemfsd mounts"
M=$GM_MNT
SOCK=$GM_STATE.sock
# More connections than the daemon serves at once (64); first, while no
# other connection is open.
check_eq "100 connections at once: 64 are served, the rest closed" \
	"100 connections, 64 served
then a new connection: served" "$("$GM_BIN/gm-ctl" "$SOCK" flood 100)"
check "the refusals are logged" grep -q "refused: too many connections" "$GM_LOG"

"$GM_BIN/gm-mmap" "$M/f.ram" 4M write 3 || gm_bail "a file with a pattern"

out=$("$GM_BIN/gm-ctl" "$SOCK" hostile f.ram)
rc=$?
printf '%s\n' "$out" | sed 's/^/#   /'
check_eq "every hostile message got its error; the connection stayed usable" 0 "$rc"
check "the daemon still serves the mount" "$GM_BIN/gm-mmap" "$M/f.ram" 4M verify 3
check "and the socket" "$GM_BIN/gm-ctl" "$SOCK" info f.ram
check_eq "the pool's figures are whole" "$(gm_stats 'd["pool"]["used"]')" \
	"$("$GM_BIN/gm-ctl" "$SOCK" pool | sed 's/.*used=\([0-9]*\).*/\1/')"
check "refusals are logged with their reason" grep -q "malformed request refused: command 99 is unknown" "$GM_LOG"

# A killed daemon leaves its socket file; the next one replaces it.
gm_stop KILL
check "kill -9 leaves the socket file" test -S "$SOCK"
gm_start --pool-size=128M || gm_bail "gmemfsd restarts"
check "the restarted daemon serves the socket" "$GM_BIN/gm-ctl" "$SOCK" info f.ram

# A second daemon may not take a live socket over.
mkdir "$GM_TMP/m2" "$GM_TMP/s2"
check_fails "a second daemon on the same socket is refused" "another gmemfsd serves it" \
	timeout 20 "$GMEMFSD" -f --state-dir="$GM_TMP/s2" --ctl-socket="$SOCK" "$GM_TMP/m2"
check "the first still serves it" "$GM_BIN/gm-ctl" "$SOCK" info f.ram
gm_stop TERM
check "a clean stop removes the socket file" test ! -e "$SOCK"

# Out of fds: the accept thread retries on a timer instead of spinning on
# the queued connections, and accepts again once fds come back.
printf '#!/bin/sh\nexec prlimit --nofile=40:40 "%s" "$@"\n' "$GMEMFSD" >"$GM_TMP/lowfd"
chmod +x "$GM_TMP/lowfd"
GMEMFSD=$GM_TMP/lowfd gm_start --pool-size=128M || gm_bail "gmemfsd with 40 fds"
"$GM_BIN/gm-ctl" "$SOCK" hold 100 5 >"$GM_TMP/hold.out" 2>&1 &
holder=$!
GM_KIDS+=("$holder")
check "100 connections queued against 40 fds" gm_poll 10 grep -q held "$GM_TMP/hold.out"
check "accept runs out of fds, logged" gm_poll 10 grep -q "accept: Too many open files" "$GM_LOG"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$GM_PID/stat"; }
t0=$(cpu_ticks)
sleep 1	# a measurement over an interval, not a wait
check "meanwhile the daemon does not spin (< 0.2 s CPU in 1 s)" test $(($(cpu_ticks) - t0)) -lt 20
check "the holder lets go" gm_poll 15 gm_dead "$holder"
check "then a new client is served" "$GM_BIN/gm-ctl" "$SOCK" info f.ram
check "and the log says accepting again" grep -q "accepting again" "$GM_LOG"
# Once per episode, not once per 100 ms retry (about 50 over the hold): the
# daemon's own short-lived fds come and go, so an accept can slip in and a
# second episode start before the holder lets go.
n_warn=$(grep -c "accept: Too many open files" "$GM_LOG")
check "the out-of-fds warning is logged per episode, not per retry ($n_warn)" \
	test "$n_warn" -ge 1 -a "$n_warn" -le 5
gm_stop TERM

# A socket path longer than sun_path (108 bytes).
long=$GM_TMP/$(printf 'd%.0s' {1..60})/$(printf 'e%.0s' {1..60})
mkdir -p "$long"
gm_start --pool-size=128M --ctl-socket="$long/ctl.sock" || gm_bail "gmemfsd with a long socket path"
check "a socket path of ${#long}+ bytes is served" "$GM_BIN/gm-ctl" "$long/ctl.sock" info f.ram
check "gmemctl finds it through the mount" "$GMEMCTL" stat "$M/f.ram"

gm_done

#!/bin/bash
#
# t-restart: nothing is lost when gmemfsd dies.  A VMM-like process writes a
# pattern through a mapping and keeps a second mapping; gmemfsd is killed
# with SIGKILL.  The held mapping keeps working while the daemon is down
# (it maps the backing file), and after a restart on the same state dir
# every file, directory, mode, owner, time, xattr, policy and byte is back, and
# what the held mapping wrote meanwhile is visible through the new mount.
# The new gmemfsd clears the dead mount the killed one left by itself.
# Then the journal's last record is torn (garbage appended, or a few bytes
# cut off) and gmemfsd must still start, losing at most that last change.
# Not for: clean-shutdown details (t-basic).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
M=$GM_MNT
T=$GM_TMP
X=user.gmemfs.pagesize
J=$GM_STATE/journal

snapshot() { gm_tree >"$1"; }

# up WHY: start gmemfsd on the state dir, or end the test.
up() {
	# shellcheck disable=SC2119 # every start here takes the default options
	gm_start || gm_bail "$1"
}

# restart_after_kill NAME: start gmemfsd again where a SIGKILLed one left
# its mount, dead; it must detach that mount itself (and say so), leaving
# only its own mount there.
restart_after_kill() {
	check "$1: the dead mount is still there" gm_dead_mount
	gm_log_mark
	up "$1: gmemfsd restarts on the dead mount"
	check_log "$1: gmemfsd detached the dead mount" \
		"$M: detached the dead mount a previous gmemfsd left"
	check_eq "$1: one FUSE mount at the mountpoint, the new one" 1 \
		"$(gm_fuse_mount_ids "$M" | wc -l)"
}

up "gmemfsd mounts"

# --- build a tree worth restoring ---
mkdir -p "$M/vm/disk" "$M/thp" "$M/small" "$M/private"
setfattr -n "$X" -v 2m-thp "$M/thp"
setfattr -n "$X" -v 4k "$M/small"
check "a 64 MiB THP guest memory file, written through a mapping" \
	"$GM_BIN/gm-mmap" "$M/thp/ram" 64M write 11
check "a 16 MiB 4k file, written with write()" "$GM_BIN/gm-mmap" "$M/small/ram" 16M pwrite 12
: >"$M/own"
setfattr -n "$X" -v 2m-thp "$M/own"
echo "owned" >"$M/private/owned"
chown 1234:5678 "$M/private/owned"
chmod 0600 "$M/private/owned"
chmod 0750 "$M/private"
chown 42:43 "$M/private"
ln "$M/private/owned" "$M/vm/hardlink"
echo "cfg" >"$M/vm/disk/config"
setfattr -n user.note -v "kept across restarts" "$M/vm/disk/config"
setfattr -n user.dirnote -v yes "$M/vm"
mv "$M/vm/disk/config" "$M/vm/disk/config.json"
: >"$M/gone" && rm "$M/gone"
ln -s ../vm/disk/config.json "$M/private/current"
ln "$M/private/current" "$M/vm/current-link"
mkfifo -m 0620 "$M/vm/console"
mknod -m 0660 "$M/vm/kvm" c 10 232
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$M/vm/qmp.sock"
touch -d '2001-02-03 04:05:06 UTC' "$M/vm/disk/config.json"
# Times of directories and nodes live in the journal (a file's on its backing),
# one of them before 1970.
touch -d '1969-07-20 20:17:40.5 UTC' "$M/vm/disk"
touch -h -m -d '2002-03-04 05:06:07 UTC' "$M/private/current"
mtime=$(stat -c %Y "$M/vm/disk/config.json")
snapshot "$T/before"
ino=$(stat -c %i "$M/thp/ram")

# --- a VMM keeps the THP file mapped ---
check "a VMM maps the THP file" gm_hold_start vmm "$M/thp/ram" 64M
check_eq "the VMM sees the pattern" ok "$(gm_hold_cmd vmm 'verify 11')"

# --- kill -9 ---
killed=$GM_PID
check "gmemfsd is gone after SIGKILL" gm_stop KILL
check_eq "it died of SIGKILL" $((128 + 9)) "$GM_STOP_STATUS"
check "no process is left with its pid" gm_dead "$killed"
check_fails "the dead mount answers ENOTCONN" "Transport endpoint is not connected" ls "$M/vm"

# --- the mapping works while the daemon is down ---
check_eq "daemon down: the VMM still reads its pattern" ok "$(gm_hold_cmd vmm 'verify 11')"
check_eq "daemon down: the VMM writes a new one" ok "$(gm_hold_cmd vmm 'write 21')"
check_eq "daemon down: and reads it back" ok "$(gm_hold_cmd vmm 'verify 21')"

# --- restart on the same state dir ---
restart_after_kill "after SIGKILL"
check "the THP file has what the VMM wrote while the daemon was down" \
	"$GM_BIN/gm-mmap" "$M/thp/ram" 64M verify 21
check_eq "the THP file kept its id" "$ino" "$(stat -c %i "$M/thp/ram")"
# The THP file's bytes changed on purpose (seed 21); compare the rest.
snapshot "$T/after"
check "tree, modes, owners, times, sizes, link counts, ids, xattrs and contents are back" \
	diff <(grep -v '^\./thp/ram sha256 ' "$T/before") <(grep -v '^\./thp/ram sha256 ' "$T/after")
check_eq "the mtime is back" "$mtime" "$(stat -c %Y "$M/vm/disk/config.json")"
check_eq "the THP dir policy is back" 2m-thp "$(gm_pagesize "$M/thp")"
check_eq "the THP file's provider is back" 2 "$(gm_info "$M/thp/ram" provider)"
check_eq "the 4k file's provider is back" 1 "$(gm_info "$M/small/ram" provider)"
check_eq "the empty file's own policy is back" 2m-thp "$(gm_pagesize "$M/own")"
check "the 4k file's content is back" "$GM_BIN/gm-mmap" "$M/small/ram" 16M verify 12
check_eq "hard links still share an inode" "$(stat -c %i "$M/private/owned")" \
	"$(stat -c %i "$M/vm/hardlink")"
check "the removed file stayed removed" test ! -e "$M/gone"
check_eq "a new file in a restored dir inherits its policy" 4k \
	"$(: >"$M/small/new" && gm_pagesize "$M/small/new")"
check_eq "new ids do not collide with restored ones" 4 \
	"$(stat -c %i "$M/small/new" "$M/thp/ram" "$M/small/ram" "$M/own" | sort -u | wc -l)"

# --- the old mapping and the new mount share the memory ---
check_eq "the VMM's mapping survived the restart" ok "$(gm_hold_cmd vmm 'verify 21')"
check_eq "the VMM writes again" ok "$(gm_hold_cmd vmm 'write 31')"
check "the new mount sees that write" "$GM_BIN/gm-mmap" "$M/thp/ram" 64M verify 31
gm_hold_stop vmm
check_pool_agrees
check_no_data_requests

# --- a torn last record: garbage appended ---
snapshot "$T/before"
check "clean stop" gm_stop
check "the journal exists at STATE/journal" test -s "$J"
printf '\x30\x00\x00\x00\xde\xad\xbe\xef\x01garbage' >>"$J"
up "gmemfsd starts with garbage after the journal's last record"
snapshot "$T/after"
check "nothing lost to appended garbage" diff "$T/before" "$T/after"
check "and the daemon keeps journaling after it" mkdir "$M/after-garbage"

# --- a torn last record: the tail cut off ---
# SIGKILL right after the last change, so its record is the journal's last
# one (a clean stop might rewrite the journal).
check "clean stop" gm_stop
up "gmemfsd restarts"
snapshot "$T/before"
mkdir "$M/last-change"
check "SIGKILL" gm_stop KILL
size=$(stat -c %s "$J")
check "cut 3 bytes off the journal" truncate -s $((size - 3)) "$J"
restart_after_kill "cut-off journal"
test -d "$M/last-change" && rmdir "$M/last-change"
snapshot "$T/after"
check "nothing but the last change lost to a cut-off tail" diff "$T/before" "$T/after"
check "the THP file survived it all" "$GM_BIN/gm-mmap" "$M/thp/ram" 64M verify 31
check "a new change after recovery" mkdir "$M/after-cut"
check "clean stop" gm_stop
up "gmemfsd restarts after the recovery"
check "the change made after recovery is kept" test -d "$M/after-cut"

gm_done

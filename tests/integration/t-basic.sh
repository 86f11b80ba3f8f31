#!/bin/bash
#
# t-basic: a shell user's day on a gmemfs mount: mkdir, echo, cat, dd,
# fallocate (preallocate and punch), ls, chmod/chown, touch -d, hard links,
# mv, rm, rmdir, stat -f, user xattrs, permissions for an unprivileged
# user; a FIFO and a symlink; --help; SIGTERM and SIGINT
# unmount cleanly; a daemonized gmemfsd; the default state dir.
# Not for: mmap, page sizes or the pool budget (their own tests).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

# shellcheck disable=SC2016 # the inner shell expands $1
check "--help exits 0 and documents --pool-size" \
	bash -c '"$1" --help 2>&1 | grep -q -- --pool-size' _ "$GMEMFSD"

gm_start || gm_bail "gmemfsd mounts"
M=$GM_MNT
T=$GM_TMP

check_eq "mount type is fuse.gmemfs" "fuse.gmemfs" \
	"$(awk -v m="$M" '$2 == m { print $3 }' /proc/self/mounts)"
check_eq "new mount lists no files, not even .gmemfs (ls -A)" "" "$(ls -A "$M")"
check "but .gmemfs/stats opens by name" gm_stats 'd["pool"]["budget"]'

# --- directories and small files ---
check "mkdir -p a/b/c" mkdir -p "$M/a/b/c"
# shellcheck disable=SC2016 # the inner shell expands $1
check "echo > file" bash -c 'echo "hello gmemfs" >"$1/a/hello"' _ "$M"
check_eq "cat reads it back" "hello gmemfs" "$(cat "$M/a/hello")"
# shellcheck disable=SC2016 # the inner shell expands $1
check "echo >> appends" bash -c 'echo "line 2" >>"$1/a/hello"' _ "$M"
check_eq "appended content" "$(printf 'hello gmemfs\nline 2')" "$(cat "$M/a/hello")"
check_eq "stat size after append" 20 "$(stat -c %s "$M/a/hello")"

# --- dd: 4 MiB of random data through write() and read() ---
head -c 4M /dev/urandom >"$T/rand"
check "dd 4 MiB in" dd if="$T/rand" of="$M/a/b/rand" bs=64K status=none
check "cmp after dd" cmp "$T/rand" "$M/a/b/rand"
check "dd overwrite 1 block mid-file (notrunc)" \
	dd if=/dev/zero of="$M/a/b/rand" bs=4K seek=10 count=1 conv=notrunc status=none
dd if=/dev/zero of="$T/rand" bs=4K seek=10 count=1 conv=notrunc status=none
check "cmp after partial overwrite" cmp "$T/rand" "$M/a/b/rand"

# --- fallocate: preallocate, then punch a hole keeping the size ---
check "fallocate -l 8M" fallocate -l 8M "$M/falloc"
check_eq "fallocated size" $((8 << 20)) "$(stat -c %s "$M/falloc")"
check_eq "fallocate 8 MiB: exactly 16384 blocks of 512 bytes" 16384 "$(stat -c %b "$M/falloc")"
dd if=/dev/urandom of="$M/falloc" bs=1M count=8 conv=notrunc status=none
# 2 MiB-aligned, so a huge page (if the default policy gives them) goes whole.
check "punch 2 MiB hole at 2 MiB (keep size)" fallocate -p -o 2M -l 2M "$M/falloc"
check_eq "size unchanged by punch" $((8 << 20)) "$(stat -c %s "$M/falloc")"
check_eq "punch freed exactly 2 MiB: 4096 blocks" $((16384 - 4096)) "$(stat -c %b "$M/falloc")"
check "hole reads as zeros" cmp -n $((2 << 20)) -i $((2 << 20)):0 "$M/falloc" /dev/zero
# shellcheck disable=SC2016 # the inner shell expands $1
check "data after the hole kept" bash -c '! cmp -s -n 4096 -i $((4 << 20)):0 "$1" /dev/zero' _ "$M/falloc"

# --- listing ---
mkdir "$M/many"
for i in $(seq 1 300); do : >"$M/many/f$i"; done
check_eq "ls sees all 300 entries" 300 "$(find "$M/many" -mindepth 1 | wc -l)"
# shellcheck disable=SC2012 # ls -l is the point here
check_eq "ls -l shows a regular file" "-rw-r--r--" "$(ls -l "$M/a/hello" | cut -c1-10)"
# shellcheck disable=SC2016 # the inner shell expands $1
check "ls -la of a directory" bash -c 'ls -la "$1/a" | grep -q " hello$"' _ "$M"

# --- attributes ---
check "chmod 0640" chmod 0640 "$M/a/hello"
check_eq "mode is 640" 640 "$(stat -c %a "$M/a/hello")"
check "chown 1234:5678" chown 1234:5678 "$M/a/hello"
check_eq "owner is 1234:5678" 1234:5678 "$(stat -c %u:%g "$M/a/hello")"
check "chmod a directory 0711" chmod 0711 "$M/a/b"
check_eq "dir mode is 711" 711 "$(stat -c %a "$M/a/b")"
check "touch -d sets mtime" touch -d '2001-02-03 04:05:06 UTC' "$M/a/hello"
check_eq "mtime" 981173106 "$(stat -c %Y "$M/a/hello")"
check "touch -a -d sets atime" touch -a -d '2002-02-03 04:05:06 UTC' "$M/a/hello"
check_eq "atime" 1012709106 "$(stat -c %X "$M/a/hello")"
check_eq "content unchanged by attribute changes" "$(printf 'hello gmemfs\nline 2')" \
	"$(cat "$M/a/hello")"

# --- unprivileged user: allow_other and default_permissions ---
# setpriv is util-linux's, which install-deps.sh installs: never skip these.
if ! command -v setpriv >/dev/null; then
	gm_fail "setpriv (util-linux) is installed, for the checks as another user"
else
	echo "root only" >"$M/private"
	chmod 0600 "$M/private"
	check "another user can list the mount (allow_other)" gm_as_nobody ls "$M"
	check_fails "another user cannot read a 0600 file" "Permission denied" \
		gm_as_nobody cat "$M/private"
	# shellcheck disable=SC2016 # the inner shell expands $1
	check_fails "another user cannot write a 0644 root file" "Permission denied" \
		gm_as_nobody bash -c 'echo x >"$1/a/b/rand"' _ "$M"
	check_fails "another user cannot create in a 0755 root dir" "Permission denied" \
		gm_as_nobody touch "$M/a/new"
	mkdir "$M/pub" && chmod 0777 "$M/pub"
	check "another user can create in a 0777 dir" gm_as_nobody touch "$M/pub/mine"
	check_eq "and owns what it created" 65534:65534 "$(stat -c %u:%g "$M/pub/mine")"
fi

# --- hard links, rename, remove ---
check "ln (hard link)" ln "$M/a/hello" "$M/hello-link"
check_eq "link count 2" 2 "$(stat -c %h "$M/a/hello")"
check_eq "same inode" "$(stat -c %i "$M/a/hello")" "$(stat -c %i "$M/hello-link")"
echo "via link" >>"$M/hello-link"
check "write through one name shows through the other" grep -q "via link" "$M/a/hello"
check "mv across directories" mv "$M/a/b/rand" "$M/a/b/c/moved"
check "moved file keeps content" cmp "$T/rand" "$M/a/b/c/moved"
check "old name is gone" test ! -e "$M/a/b/rand"
check "mv renames a directory" mv "$M/a/b" "$M/a/bee"
check "content under the renamed dir" cmp "$T/rand" "$M/a/bee/c/moved"
check "rm one link" rm "$M/a/hello"
check_eq "other link remains, count 1" 1 "$(stat -c %h "$M/hello-link")"
check_fails "rmdir of a non-empty dir" "Directory not empty" rmdir "$M/a/bee/c"
check "rm the file" rm "$M/a/bee/c/moved"
check "rmdir the now empty dir" rmdir "$M/a/bee/c"
check "rm -r a tree" rm -r "$M/many" "$M/a"
check "it is gone" test ! -e "$M/a"

# --- a directory's link count through a rename and changes below it ---
check "mkdir -p a/b/c a/d" mkdir -p "$M/a/b/c" "$M/a/d"
check "mv a z" mv "$M/a" "$M/z"
check "rmdir z/b/c z/b" rmdir "$M/z/b/c" "$M/z/b"
check "touch z/x" touch "$M/z/x"
check_eq "z holds one directory (d): link count 3" 3 "$(stat -c %h "$M/z")"

# --- statfs ---
read -r bsize budget _ _ < <(gm_statfs)
check_eq "stat -f block size" 4096 "$bsize"
check_eq "default budget: half of MemTotal, rounded down to 2 MiB" \
	$(($(gm_meminfo MemTotal) * 1024 / 2 / (2 << 20) * (2 << 20))) "$budget"
check_eq "stat -f budget equals stats pool.budget" "$budget" "$(gm_stats 'd["pool"]["budget"]')"
check_pool_agrees
check_eq "stat -f name length limit" 255 "$(stat -f -c %l "$M")"

# --- user xattrs ---
check "setfattr user.color" setfattr -n user.color -v blue "$M/falloc"
check_eq "getfattr user.color" blue "$(getfattr --absolute-names --only-values -n user.color "$M/falloc")"
check "setfattr replaces the value" setfattr -n user.color -v green "$M/falloc"
check_eq "getfattr new value" green "$(getfattr --absolute-names --only-values -n user.color "$M/falloc")"
check "setfattr on a directory" setfattr -n user.dir -v yes "$M/pub"
# shellcheck disable=SC2016 # the inner shell expands $1
check "getfattr -d lists user.color" bash -c 'getfattr --absolute-names -d "$1" | grep -q "^user.color=\"green\""' _ "$M/falloc"
check "setfattr -x removes it" setfattr -x user.color "$M/falloc"
check_fails "removed attribute is gone" "No such attribute" \
	getfattr --absolute-names -n user.color "$M/falloc"
check_errno "getxattr of a missing name: ENODATA" ENODATA getxattr "$M/falloc" user.nope

# --- the other file types (t-posix.sh has their rules) ---
check "mkfifo" mkfifo "$M/fifo"
check "ln -s" ln -s falloc "$M/sym"
check_eq "a symlink reads through to its target" "$(stat -c %s "$M/falloc")" \
	"$(stat -L -c %s "$M/sym")"
check "rm of both" rm "$M/fifo" "$M/sym"

# --- all of the above stayed on the kernel's data path ---
check_no_data_requests

# --- the stats file is read-only ---
check_stats_readonly

# --- clean unmount on SIGTERM and SIGINT, data kept across ---
# A reader still holds .gmemfs/stats when the daemon stops: its RELEASE
# never comes, and the daemon frees its copy itself (and says so).
sum=$(sha256sum <"$M/falloc")
exec {stats_fd}<"$M/.gmemfs/stats"
check "SIGTERM: gmemfsd exits and unmounts" gm_stop TERM
check_eq "SIGTERM: exit status 0" 0 "$GM_STOP_STATUS"
check "a stats copy still open at unmount is freed" \
	grep -q "freed 1 .gmemfs/stats copies still open at unmount" "$GM_LOG"
exec {stats_fd}<&-
gm_start || gm_bail "gmemfsd remounts"
check_eq "content back after a clean restart" "$sum" "$(sha256sum <"$M/falloc")"
check_eq "after a restart, z's link count is still 3" 3 "$(stat -c %h "$M/z")"
check "and z/d, z/x are there" test -d "$M/z/d" -a -f "$M/z/x"
check "SIGINT: gmemfsd exits and unmounts" gm_stop INT
check_eq "SIGINT: exit status 0" 0 "$GM_STOP_STATUS"

# --- FUSE options: -s (single-threaded) and -o fsname= ---
gm_start -s -o fsname=gm-test || gm_bail "gmemfsd mounts with -s -o fsname=gm-test"
check_eq "-o fsname= names the mount's source" gm-test \
	"$(awk -v m="$M" '$2 == m { print $1 }' /proc/self/mounts)"
check_eq "-s: content readable" "$sum" "$(sha256sum <"$M/falloc")"
# shellcheck disable=SC2016 # the inner shell expands $1
check "-s: write and read a new file" \
	bash -c 'echo st >"$1/st" && [[ $(cat "$1/st") == st ]]' _ "$M"
check "-s: stop" gm_stop

# --- without -f: gmemfsd daemonizes, and unmounting ends it ---
# A daemon's stderr is /dev/null, so under the sanitizers their reports go
# to files (log_path.PID) instead; other builds ignore these variables.
san_log=$GM_TMP/sanitizer-daemonized
check "without -f: gmemfsd returns once mounted" \
	env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$san_log" \
	UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$san_log" \
	timeout 10 "$GMEMFSD" --state-dir="$GM_STATE" "$M"
check "without -f: the mount is there" gm_poll 10 gm_live_mount
daemon_pid=$(gm_lock_holders "$GM_STATE/lock")
check_cond "without -f: one gmemfsd holds the state dir's lock" \
	"$(wc -w <<<"$daemon_pid") == 1"
check_eq "without -f: content readable" "$sum" "$(sha256sum <"$M/falloc")"
check "umount" umount "$M"
check "umount ends the daemon" gm_poll 10 gm_dead "${daemon_pid:-0}"
check "and its state lock is free" flock -n "$GM_STATE/lock" true
san_out=$(cat "$san_log".* 2>/dev/null)
check_eq "without -f: no sanitizer report from the daemonized gmemfsd" "" \
	"$(grep -E -A20 'ERROR: [A-Za-z]+Sanitizer|runtime error:' <<<"$san_out")"
# LeakSanitizer's "Running thread N was not suspended" after fork() is a
# warning, not a report: show it, do not fail on it.
[[ -z $san_out ]] || gm_say "sanitizer output of the daemonized gmemfsd: $san_out"

# --- the default state dir: derived from the mountpoint, found on restart ---
run_mounts() { gm_mount_list | grep '^/run/gmemfs/' | sort; }
before=$(run_mounts)
[[ -d /run/gmemfs ]] || GM_EXTRA_DIRS+=(/run/gmemfs)
GM_DEFAULT_STATE=1
gm_start || gm_bail "gmemfsd mounts without --state-dir"
new=$(comm -13 <(echo "$before") <(run_mounts) | head -n 1)
def_state=${new%/*}
[[ -n $new ]] && GM_EXTRA_STATE+=("$def_state")
check "without --state-dir, the stores are under /run/gmemfs" test -n "$new"
gm_say "default state dir: $def_state"
echo kept >"$M/default-state"
check "stop" gm_stop
gm_start || gm_bail "gmemfsd restarts without --state-dir"
check_eq "a restart with the same arguments finds the same files" kept \
	"$(cat "$M/default-state" 2>&1)"
check "stop" gm_stop
unset GM_DEFAULT_STATE

gm_done

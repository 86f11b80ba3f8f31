#!/bin/bash
#
# t-badinput: every bad request gets a clear errno and harms nothing else.
# Invalid xattr names and values (EINVAL), names over 255 bytes
# (ENAMETOOLONG), unsupported file types (EPERM), shrinking a mapped file
# (EBUSY, content intact; growing is fine), rename over a non-empty
# directory (ENOTEMPTY), RENAME_NOREPLACE onto a name (EEXIST),
# RENAME_EXCHANGE, malformed GMEMFS_IOC_INFO requests (EINVAL).  Afterwards
# the daemon still runs and an earlier file is intact.
# Not for: pool limits (t-pool) or page-size effects (t-pagesize).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
M=$GM_MNT

# refused_cli NAME MNT [ARGS...]: gmemfsd ARGS MNT must exit non-zero
# (within 10 s) and leave MNT unmounted.
refused_cli() {
	local name=$1 mnt=$2 rc
	shift 2
	timeout 10 "$GMEMFSD" -f "$@" ${mnt:+"$mnt"} >>"$GM_LOG" 2>&1
	rc=$?
	if ((rc != 0 && rc != 124)) && ! gm_our_mounts | grep -qFx -- "$mnt"; then
		gm_pass "$name"
	else
		gm_fail "$name"
		gm_say "  exit status $rc (124: still running after 10 s)"
		[[ -n $mnt ]] && umount -l "$mnt" 2>/dev/null
	fi
	return 0
}

# --- bad command lines: refused before mounting ---
S=--state-dir=$GM_STATE
refused_cli "--pagesize=1g is refused" "$M" "$S" --pagesize=1g
refused_cli "--pool-size=lots is refused" "$M" "$S" --pool-size=lots
refused_cli "--pool-size=200% is refused" "$M" "$S" --pool-size=200%
refused_cli "--log-level=loud is refused" "$M" "$S" --log-level=loud
refused_cli "a missing mountpoint is refused" "$GM_TMP/nowhere" "$S"
refused_cli "no mountpoint at all is refused" "" "$S"

gm_start || gm_bail "gmemfsd mounts"
X=user.gmemfs.pagesize
N255=$(printf 'n%.0s' $(seq 255))
N256=${N255}x

check "a witness file, written before the bad input" "$GM_BIN/gm-mmap" "$M/witness" 8M write 7
echo data >"$M/f"
mkdir "$M/d"

# --- xattrs ---
for v in bogus 4kb "" 2m 1g; do
	check_errno "$X='$v' on a file: EINVAL" EINVAL setxattr "$M/f" "$X" "$v"
done
check_errno "$X=bogus on a dir: EINVAL" EINVAL setxattr "$M/d" "$X" bogus
check_errno "user.gmemfs.other on a file: EINVAL" EINVAL setxattr "$M/f" user.gmemfs.other 1
check_errno "user.gmemfs.other on a dir: EINVAL" EINVAL setxattr "$M/d" user.gmemfs.other 1
check_errno "user.gmemfs. (empty suffix): EINVAL" EINVAL setxattr "$M/f" user.gmemfs. 1
check_errno "the rejected name was not stored" ENODATA getxattr "$M/f" user.gmemfs.other
check_errno "a plain user.* name is fine" OK setxattr "$M/f" user.other 1
check_errno "removing a missing user.* name: ENODATA" ENODATA removexattr "$M/f" user.missing

# --- names too long ---
check_errno "create with a 255-byte name works" OK create "$M/$N255"
check "and it can be found" test -f "$M/$N255"
check_errno "create with a 256-byte name: ENAMETOOLONG" ENAMETOOLONG create "$M/$N256"
check_errno "mkdir with a 256-byte name: ENAMETOOLONG" ENAMETOOLONG mkdir "$M/d/$N256"
check_errno "link to a 256-byte name: ENAMETOOLONG" ENAMETOOLONG link "$M/f" "$M/$N256"
check_eq "rename to a 256-byte name: ENAMETOOLONG" ENAMETOOLONG \
	"$("$GM_BIN/gm-rename" plain "$M/f" "$M/d/$N256")"
check "the renamed file kept its name" test -f "$M/f"
check_fails "touch with a 256-byte name" "File name too long" touch "$M/$N256"
check_eq "no 256-byte entry exists" 0 "$(find "$M" -name "$N256" | wc -l)"

# --- unsupported file types ---
for t in fifo sock chr blk; do
	check_errno "mknod $t: EPERM" EPERM mknod "$M/node-$t" "$t"
done
check_errno "symlink: EPERM" EPERM symlink f "$M/sym"
check_eq "none of them was created" 0 "$(find "$M" -name 'node-*' -o -name sym | wc -l)"

# --- truncating a mapped file ---
check "a VMM maps a 16 MiB file" gm_hold_start vmm "$M/guest" 16M
check_eq "and writes its pattern" ok "$(gm_hold_cmd vmm 'write 9')"
check_errno "shrink while mapped: EBUSY" EBUSY truncate "$M/guest" $((8 << 20))
check_fails "truncate -s 0 while mapped" "Device or resource busy" truncate -s 0 "$M/guest"
check_eq "size unchanged" $((16 << 20)) "$(stat -c %s "$M/guest")"
check_eq "mapping still sees its pattern" ok "$(gm_hold_cmd vmm 'verify 9')"
check "a second mapping sees it too" "$GM_BIN/gm-mmap" "$M/guest" 16M verify 9
check_errno "growing while mapped is fine" OK truncate "$M/guest" $((32 << 20))
check_eq "grown" $((32 << 20)) "$(stat -c %s "$M/guest")"
check_errno "shrinking back to the mapped size is still EBUSY" EBUSY \
	truncate "$M/guest" $((16 << 20))
check_eq "pattern intact after the refused shrinks" ok "$(gm_hold_cmd vmm 'verify 9')"
gm_hold_stop vmm
check "after munmap the shrink works" gm_poll 5 truncate -s 4M "$M/guest"
check "the first 4 MiB kept the pattern" "$GM_BIN/gm-mmap" "$M/guest" 4M verify 9

# --- rename ---
mkdir -p "$M/full1" "$M/full2" "$M/empty"
echo one >"$M/full1/x"
echo two >"$M/full2/y"
check_eq "rename over a non-empty dir: ENOTEMPTY" ENOTEMPTY \
	"$("$GM_BIN/gm-rename" plain "$M/full1" "$M/full2")"
check_fails "mv -T over a non-empty dir" "Directory not empty" mv -T "$M/full1" "$M/full2"
check_eq "both dirs untouched" "one two" "$(cat "$M/full1/x") $(cat "$M/full2/y")"
check_eq "rename over an empty dir works" OK "$("$GM_BIN/gm-rename" plain "$M/full1" "$M/empty")"
check_eq "contents moved with it" one "$(cat "$M/empty/x")"
echo A >"$M/a"
echo B >"$M/b"
check_eq "RENAME_NOREPLACE onto an existing name: EEXIST" EEXIST \
	"$("$GM_BIN/gm-rename" noreplace "$M/a" "$M/b")"
check_eq "both files untouched" "A B" "$(cat "$M/a") $(cat "$M/b")"
check_eq "RENAME_NOREPLACE onto a free name works" OK \
	"$("$GM_BIN/gm-rename" noreplace "$M/a" "$M/c")"
check_eq "RENAME_EXCHANGE of two files" OK "$("$GM_BIN/gm-rename" exchange "$M/c" "$M/b")"
check_eq "their contents swapped names" "B A" "$(cat "$M/c") $(cat "$M/b")"
ino_dir=$(stat -c %i "$M/full2")
ino_file=$(stat -c %i "$M/c")
check_eq "RENAME_EXCHANGE of a file and a directory" OK \
	"$("$GM_BIN/gm-rename" exchange "$M/c" "$M/full2")"
check_eq "the names now lead to the other inode" "$ino_dir $ino_file" \
	"$(stat -c %i "$M/c") $(stat -c %i "$M/full2")"
check_eq "the exchanged dir's content" two "$(cat "$M/c/y")"
check_eq "RENAME_EXCHANGE with a missing name: ENOENT" ENOENT \
	"$("$GM_BIN/gm-rename" exchange "$M/c" "$M/nothing")"

# --- malformed ioctl ---
check "GMEMFS_IOC_INFO with in_flags, __pad or reserved set: EINVAL" "$GM_BIN/gm-info" --bad "$M/f"

# --- the daemon's own files ---
check_fails "writing the stats file is refused" "" bash -c 'echo x >"$1"' _ "$M/$GMEMFS_STATS"
check_fails "creating a file in .gmemfs is refused" "" touch "$M/.gmemfs/new"
check_fails "removing the stats file is refused" "" rm -f "$M/$GMEMFS_STATS"
check "the stats file is still valid JSON" gm_stats 'd["pool"]["budget"]'

# --- a second daemon on the same state dir ---
mkdir "$GM_TMP/mnt2"
refused_cli "a second gmemfsd on the same state dir is refused" "$GM_TMP/mnt2" "$S"
check "the first mount still answers" gm_stats 'd["pool"]["budget"]' 

# --- and nothing else was harmed ---
check "gmemfsd is still running" gm_alive "$GM_PID"
check "the mount still answers" gm_mounted
check "the witness file is intact" "$GM_BIN/gm-mmap" "$M/witness" 8M verify 7
check_eq "statfs used = stats pool.used" "$(gm_statfs_used)" "$(gm_stats 'd["pool"]["used"]')"
check "a new file works" bash -c 'echo fine >"$1/after" && [[ $(cat "$1/after") == fine ]]' _ "$M"
check "SIGTERM still unmounts cleanly" gm_stop

gm_done

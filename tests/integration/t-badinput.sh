#!/bin/bash
#
# t-badinput: every bad request gets a clear errno and harms nothing else.
# Invalid xattr names and values (EINVAL), names over 255 bytes
# (ENAMETOOLONG), symlink and mknod onto a name (EEXIST), truncate of a
# fifo (EINVAL), shrinking a mapped file
# (EBUSY, content intact; growing is fine), rename over a non-empty
# directory (ENOTEMPTY), RENAME_NOREPLACE onto a name (EEXIST),
# RENAME_EXCHANGE, malformed GMEMFS_IOC_INFO requests (EINVAL); each refusal
# also leaves a log line naming the object and the reason.  Bad command
# lines exit 1 with a message.  Afterwards the daemon still runs and an
# earlier file is intact.  A mount whose path holds a space still refuses
# to shrink a mapped file.
# Not for: pool limits (t-pool) or page-size effects (t-pagesize).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
M=$GM_MNT

# refused_cli NAME TEXT MNT [ARGS...]: gmemfsd ARGS MNT must exit with
# status 1 within 10 s, say TEXT on stderr, and leave MNT unmounted.
refused_cli() {
	local name=$1 text=$2 mnt=$3 rc err=$GM_TMP/refused.err
	shift 3
	timeout 10 "$GMEMFSD" -f "$@" ${mnt:+"$mnt"} >>"$GM_LOG" 2>"$err"
	rc=$?
	cat "$err" >>"$GM_LOG"
	if ((rc == 1)) && grep -qF -- "$text" "$err" &&
		! gm_our_mounts | grep -qFx -- "$mnt"; then
		gm_pass "$name"
	else
		gm_fail "$name"
		gm_say "  exit status $rc (want 1; 124: still running after 10 s)"
		gm_say "  stderr (want \"$text\"):"
		head -n 5 "$err" | sed 's/^/#   /'
		[[ -n $mnt ]] && umount -l "$mnt" 2>/dev/null
	fi
	return 0
}

# --- bad command lines: refused before mounting ---
S=--state-dir=$GM_STATE
POOL_MSG="want bytes with a K/M/G/T suffix or a percentage of RAM, at least 16 MiB"
PS_MSG="use 4k, 2m-thp, 2m, 1g, auto, kvm-gmem, shim or shim-secret, or 2m/1g with ,fallback=SIZE"
refused_cli "--pagesize=1gb is refused" "--pagesize=1gb: $PS_MSG" "$M" "$S" --pagesize=1gb
refused_cli "--pagesize=auto,fallback=4k is refused" \
	"--pagesize=auto,fallback=4k: only 2m and 1g take a fallback" \
	"$M" "$S" --pagesize=auto,fallback=4k
refused_cli "--hugepages=3M:1 is refused" "--hugepages=3M:1: want 2M:N and/or 1G:N" \
	"$M" "$S" --hugepages=3M:1
refused_cli "--pool-size=lots is refused" "--pool-size=lots: $POOL_MSG" \
	"$M" "$S" --pool-size=lots
refused_cli "--pool-size=200% is refused" "--pool-size=200%: $POOL_MSG" \
	"$M" "$S" --pool-size=200%
refused_cli "--pool-size=8M (below the 16 MiB minimum) is refused" \
	"--pool-size=8M: $POOL_MSG" "$M" "$S" --pool-size=8M
refused_cli "--log-level=loud is refused" "--log-level=loud: use error, warn, info or debug" \
	"$M" "$S" --log-level=loud
refused_cli "--shrink-mapped=maybe is refused" "--shrink-mapped=maybe: use refuse or allow" \
	"$M" "$S" --shrink-mapped=maybe
refused_cli "a missing mountpoint is refused" \
	"bad mount point \`$GM_TMP/nowhere': No such file or directory" "$GM_TMP/nowhere" "$S"
refused_cli "no mountpoint at all is refused" "[options] MOUNTPOINT  (--help for more)" "" "$S"

# shellcheck disable=SC2119 # started with the default options
gm_start || gm_bail "gmemfsd mounts"
X=user.gmemfs.pagesize
N255=$(printf 'n%.0s' $(seq 255))
N256=${N255}x

check "a witness file, written before the bad input" "$GM_BIN/gm-mmap" "$M/witness" 8M write 7
echo data >"$M/f"
mkdir "$M/d"
f_ino=$(stat -c %i "$M/f")
d_ino=$(stat -c %i "$M/d")

# --- xattrs ---
gm_log_mark
for v in bogus 4kb "" 2M 1G 2m,fallback=1g 1g,fallback=auto 1g,fallback= 2m,fb=4k; do
	check_errno "$X='$v' on a file: EINVAL" EINVAL setxattr "$M/f" "$X" "$v"
done
check_errno "$X=bogus on a dir: EINVAL" EINVAL setxattr "$M/d" "$X" bogus
check_errno "user.gmemfs.other on a file: EINVAL" EINVAL setxattr "$M/f" user.gmemfs.other 1
check_errno "user.gmemfs.other on a dir: EINVAL" EINVAL setxattr "$M/d" user.gmemfs.other 1
check_errno "user.gmemfs. (empty suffix): EINVAL" EINVAL setxattr "$M/f" user.gmemfs. 1
check_errno "the rejected name was not stored" ENODATA getxattr "$M/f" user.gmemfs.other
check_errno "a plain user.* name is fine" OK setxattr "$M/f" user.other 1
check_log "log: the bad pagesize value, with the file" \
	"file $f_ino: user.gmemfs.pagesize value 'bogus' refused: $PS_MSG"
check_log "log: the bad pagesize value on the dir" \
	"file $d_ino: user.gmemfs.pagesize value 'bogus' refused"
check_log "log: the unknown user.gmemfs.* name, with the file" \
	"file $f_ino: xattr user.gmemfs.other refused: not a gmemfs attribute"
check_log "log: the unknown user.gmemfs.* name on the dir" \
	"file $d_ino: xattr user.gmemfs.other refused: not a gmemfs attribute"
check_errno "removing a missing user.* name: ENODATA" ENODATA removexattr "$M/f" user.missing

# --- names too long ---
# (The kernel's lookup of a name gets ENAMETOOLONG first, so the create is
# never sent and gmemfsd has nothing to log.)
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

# --- symlinks and other nodes ---
check_errno "symlink with a 256-byte name: ENAMETOOLONG" ENAMETOOLONG symlink f "$M/$N256"
check_errno "symlink over an existing name: EEXIST" EEXIST symlink f "$M/f"
check_errno "mknod over an existing name: EEXIST" EEXIST mknod "$M/f" fifo
mkfifo "$M/fifo-t"
check_errno "truncate of a fifo: EINVAL" EINVAL truncate "$M/fifo-t" 0
check_eq "no 256-byte entry exists" 0 "$(find "$M" -name "$N256" | wc -l)"

# --- truncating a mapped file ---
check "a VMM maps a 16 MiB file" gm_hold_start vmm "$M/guest" 16M
check_eq "and writes its pattern" ok "$(gm_hold_cmd vmm 'write 9')"
gm_log_mark
check_errno "shrink while mapped: EBUSY" EBUSY truncate "$M/guest" $((8 << 20))
check_log "log: the refused shrink, with the file, the size and the mapping process" \
	"file $(stat -c %i "$M/guest"): truncate to $((8 << 20)) refused: process ${GM_HOLD_PID[vmm]} maps it"
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

# --- a refused setattr changes nothing: a setuid file keeps its mode ---
# A truncate by an unprivileged owner also asks to drop setuid (the VFS
# does that on a size change); the refused size must take that with it.
check "a VMM maps a 16 MiB setuid file" gm_hold_start suid "$M/suid" 16M
check "chmod 4755" chmod 4755 "$M/suid"
check_errno "root: shrink while mapped: EBUSY" EBUSY truncate "$M/suid" 0
check_eq "root: the mode is still 4755" 4755 "$(stat -c %a "$M/suid")"
check "chown it to nobody" chown 65534:65534 "$M/suid"
check "chmod 4755 again (chown dropped setuid)" chmod 4755 "$M/suid"
check_fails "owner: shrink while mapped: EBUSY" "Device or resource busy" \
	gm_as_nobody truncate -s 0 "$M/suid"
check_eq "owner: the mode is still 4755" 4755 "$(stat -c %a "$M/suid")"
check_eq "owner: the size is unchanged" $((16 << 20)) "$(stat -c %s "$M/suid")"
gm_hold_stop suid
check "owner: once unmapped, the shrink works" gm_poll 5 gm_as_nobody truncate -s 0 "$M/suid"
check_eq "and drops the setuid bit, as the VFS does" "755 0" "$(stat -c '%a %s' "$M/suid")"

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
gm_log_mark
check "GMEMFS_IOC_INFO with in_flags, __pad or reserved set: EINVAL" "$GM_BIN/gm-info" --bad "$M/f"
check_log "log: the malformed ioctl, with the file" \
	"file $f_ino: GMEMFS_IOC_INFO with nonzero in_flags or reserved fields refused"

# --- the daemon's own files ---
check_stats_readonly

# --- a second daemon on the same state dir ---
mkdir "$GM_TMP/mnt2"
refused_cli "a second gmemfsd on the same state dir is refused" \
	"state dir $GM_STATE: another gmemfsd is using it" "$GM_TMP/mnt2" "$S"
check "the first mount still answers" gm_stats 'd["pool"]["budget"]'

# --- and nothing else was harmed ---
check "gmemfsd is still running" gm_alive "$GM_PID"
check "the mount still answers" gm_live_mount
check "the witness file is intact" "$GM_BIN/gm-mmap" "$M/witness" 8M verify 7
check_pool_agrees
# shellcheck disable=SC2016 # the inner shell expands $1
check "a new file works" bash -c 'echo fine >"$1/after" && [[ $(cat "$1/after") == fine ]]' _ "$M"
check "SIGTERM still unmounts cleanly" gm_stop

# --- a mountpoint whose path holds a space ---
# gmemfsd finds the mappings of a file through its mount's device, which it
# looks up by path in mountinfo, where a space is written \040.
GM_MNT="$GM_TMP/vm ram"
M=$GM_MNT
mkdir "$M"
# shellcheck disable=SC2119 # started with the default options
gm_start || gm_bail "gmemfsd mounts at a path with a space"
check "the witness file is there" "$GM_BIN/gm-mmap" "$M/witness" 8M verify 7
check "a VMM maps a 16 MiB file there" gm_hold_start spaced "$M/guest" 16M
gm_log_mark
check_errno "shrink while mapped: still EBUSY" EBUSY truncate "$M/guest" 0
check_log "log: the refused shrink names the mapping process" \
	"refused: process ${GM_HOLD_PID[spaced]} maps it"
check_eq "size unchanged" $((16 << 20)) "$(stat -c %s "$M/guest")"
gm_hold_stop spaced
check "after munmap the shrink works" gm_poll 5 truncate -s 0 "$M/guest"

gm_done

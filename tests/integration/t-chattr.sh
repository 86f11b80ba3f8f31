#!/bin/bash
#
# t-chattr: the inode flags tmpfs supports, through chattr and lsattr (and
# FS_IOC_FSSETXATTR, as xfs_io makes it): append-only, immutable, nodump and noatime,
# with the rules a local filesystem applies to them, for files and
# directories; only root may set +i and +a; flags tmpfs lacks are refused;
# all of it comes back after kill -9.
# Not for: other metadata (t-posix).
# shellcheck disable=SC2016,SC2119 # inner shells and python expand their own
# arguments; gm_start takes options, never this script's arguments

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

gm_start || gm_bail "gmemfsd mounts"
M=$GM_MNT
flags_of() { lsattr -d "$1" | cut -d' ' -f1 | tr -d -; }
# xflags FILE [SET]: FS_IOC_FSGETXATTR's fsx_xflags in hex, after
# FS_IOC_FSSETXATTR with SET if given (the calls xfs_io makes).
xflags() {
	python3 -c 'import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
if len(sys.argv) > 2:
    fcntl.ioctl(fd, 0x401c5820, struct.pack("I", int(sys.argv[2], 16)) + bytes(24))
print(hex(struct.unpack("I", fcntl.ioctl(fd, 0x801c581f, bytes(28))[:4])[0]))' "$@"
}

echo "first" >"$M/log"
chown 65534 "$M/log"	# a non-root owner, who still may not set +i or +a
mkdir "$M/d" && echo x >"$M/d/kept"

# --- immutable file ---
check "chattr +i" chattr +i "$M/log"
check_eq "lsattr shows i" i "$(flags_of "$M/log")"
check_fails "no append to it" "Operation not permitted" sh -c 'echo more >>"$1"' _ "$M/log"
check_fails "no truncate" "Operation not permitted" truncate -s 0 "$M/log"
check_fails "no rm" "Operation not permitted" rm "$M/log"
check_fails "no mv" "Operation not permitted" mv "$M/log" "$M/log2"
check_fails "no hard link" "Operation not permitted" ln "$M/log" "$M/log2"
check_fails "no chmod" "Operation not permitted" chmod 600 "$M/log"
check_fails "no chown" "Operation not permitted" chown 0 "$M/log"
check_fails "no touch" "Operation not permitted" touch "$M/log"
check_fails "no setfattr" "Operation not permitted" setfattr -n user.a -v 1 "$M/log"
check_fails "no fallocate" "Operation not permitted" fallocate -l 8192 "$M/log"
check_eq "but it reads" first "$(cat "$M/log")"
check_fails "its owner, not root, cannot clear it" "Operation not permitted" \
	gm_as_nobody chattr -i "$M/log"
check "root clears it" chattr -i "$M/log"

# copy_file_range into a file made immutable while open for writing: the
# daemon refuses it (the kernel cannot see the flag on a FUSE inode).
copy_into() {
	python3 - "$1" "$2" "$3" <<'PY'
import errno, os, subprocess, sys
src, dst, flag = sys.argv[1:4]
fi, fo = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY)
if flag != "-":
    subprocess.run(["chattr", "+" + flag, dst], check=True)
try:
    print(os.copy_file_range(fi, fo, 64, 0, 0))
except OSError as e:
    print(errno.errorcode[e.errno])
finally:
    if flag != "-":
        subprocess.run(["chattr", "-" + flag, dst], check=True)
    os.close(fi)
    os.close(fo)
PY
}
printf 'copied bytes\n' >"$M/src"
: >"$M/dst"
check_eq "copy_file_range between two files copies" 13 "$(copy_into "$M/src" "$M/dst" -)"
check_eq "and the bytes are there" "copied bytes" "$(cat "$M/dst")"
check_eq "copy_file_range into a file made immutable while open: EPERM" EPERM \
	"$(copy_into "$M/src" "$M/log" i)"
check_eq "the immutable file kept its bytes" first "$(cat "$M/log")"
rm -f "$M/src" "$M/dst"

# --- append-only file ---
check_fails "nor set +a" "Operation not permitted" gm_as_nobody chattr +a "$M/log"
check "chattr +a" chattr +a "$M/log"
check "append works" sh -c 'echo second >>"$1"' _ "$M/log"
check_fails "overwrite does not" "Operation not permitted" sh -c 'echo x >"$1"' _ "$M/log"
check_fails "neither does truncate" "Operation not permitted" truncate -s 1 "$M/log"
check_errno "open O_WRONLY without O_APPEND: EPERM" EPERM open "$M/log" O_WRONLY
check_errno "open O_WRONLY|O_APPEND: OK" OK open "$M/log" O_WRONLY,O_APPEND
check "touch to now works" touch "$M/log"
check_fails "touch -d does not" "Operation not permitted" touch -d 2001-01-01 "$M/log"
check_fails "no rm" "Operation not permitted" rm "$M/log"
check_eq "both lines are there" "first second" "$(tr '\n' ' ' <"$M/log" | sed 's/ $//')"

# --- directories ---
mkdir -p "$M/d/full" && : >"$M/d/full/x"
check "chattr +i on a directory" chattr +i "$M/d"
check_fails "no new name in it" "Operation not permitted" touch "$M/d/new"
check_fails "no mkdir in it" "Operation not permitted" mkdir "$M/d/sub"
check_fails "no rm in it" "Operation not permitted" rm "$M/d/kept"
check_errno "no rmdir of a full directory in it: EPERM before ENOTEMPTY" EPERM \
	rmdir "$M/d/full"
check_fails "no mv into it" "Operation not permitted" mv "$M/log" "$M/d/"
check "a file in it is still written" sh -c 'echo y >"$1"' _ "$M/d/kept"
check "chattr -i +a" chattr -i +a "$M/d"
check "an append-only directory takes new names" touch "$M/d/new"
check_fails "but gives none up: rm" "Operation not permitted" rm "$M/d/new"
check_fails "nor mv" "Operation not permitted" mv "$M/d/new" "$M/d/renamed"
check_errno "nor rmdir of a full directory: EPERM" EPERM rmdir "$M/d/full"

# --- the other flags, and the ones tmpfs lacks ---
echo data >"$M/plain"
check "chattr +d +A" chattr +d +A "$M/plain"
check_eq "lsattr shows dA" dA "$(flags_of "$M/plain")"
check_eq "FS_IOC_FSGETXATTR: FS_XFLAG_NODUMP | FS_XFLAG_NOATIME" 0xc0 "$(xflags "$M/plain")"
touch -a -d '2001-01-01 00:00:00 UTC' "$M/plain"
cat "$M/plain" >/dev/null
check_eq "noatime: a read leaves atime alone" 978307200 "$(stat -c %X "$M/plain")"
check_eq "FS_IOC_FSSETXATTR of nodump alone" 0x80 "$(xflags "$M/plain" 80)"
check_eq "lsattr shows d" d "$(flags_of "$M/plain")"
check_fails "chattr +c: not supported, as on tmpfs" "Operation not supported" \
	chattr +c "$M/plain"
check_fails "a non-owner sets no flag" "Operation not permitted" \
	gm_as_nobody chattr +d "$M/plain"

# --- back after kill -9 ---
check "gmemfsd is killed" gm_stop KILL
umount -l "$M"
gm_start || gm_bail "gmemfsd mounts again"
check_eq "the append-only file is still a" a "$(flags_of "$M/log")"
check_eq "the directory too" a "$(flags_of "$M/d")"
check_eq "nodump stays" d "$(flags_of "$M/plain")"
check_fails "and still refuses rm" "Operation not permitted" rm "$M/log"
check "cleared, it can go" sh -c 'chattr -a "$1" "$2" && rm -r "$1" "$2"' _ "$M/log" "$M/d"

check_no_data_requests
gm_done

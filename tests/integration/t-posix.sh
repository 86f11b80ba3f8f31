#!/bin/bash
#
# t-posix: what a local Linux filesystem does and VMM setups count on,
# checked the way a user meets it: symlinks, fifos, unix sockets and device
# nodes in the namespace (no pool memory, hard links, rename, kill -9 and
# back, nodev; a symlink's target cached by the kernel, yet a new symlink
# under the same name shows its own); set-user-ID and set-group-ID cleared by another user's
# write, by truncate and by chown; setgid directories; the sticky bit; the
# change time of an inode that rename() replaced; no listed xattr and no
# 2 MiB st_blksize nobody chose; trusted.* xattrs; RENAME_WHITEOUT and an
# overlayfs upper layer; .gmemfs/stats shows a
# reader only the files it could list; O_TMPFILE; atime by the mount's
# relatime, noatime or strictatime; file handles; --shrink-mapped=allow; --views=visible.
# Not for: regular files' memory (t-basic, t-pool) or restarts of a large
# tree (t-restart).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

gm_start || gm_bail "gmemfsd mounts"
M=$GM_MNT

# python3 -c SNIPPET ARGS...: for the calls shell tools do not make.
py() { python3 -c "$@"; }
mode_of() { stat -c %a "$1"; }

echo "some data" >"$M/data"
used=$(gm_statfs_used)

# --- symlinks ---
check "ln -s" ln -s ../target/of/choice "$M/current"
check_eq "readlink gives the target back" ../target/of/choice "$(readlink "$M/current")"
check_eq "lstat: a symlink, as long as its target" "symbolic link 19" \
	"$(stat -c '%F %s' "$M/current")"
check "a dangling symlink: there, its target not" test -L "$M/current" -a ! -e "$M/current"
check "ln -s to a file on the mount" ln -s data "$M/to-data"
check_eq "reading through it reads the file" "some data" "$(cat "$M/to-data")"
check "ln -s to a directory" ln -s / "$M/to-root"
check "following it leaves the mount" test -d "$M/to-root/proc"
check_eq "a symlink has no extended attributes, gmemfs's own neither" "[]" \
	"$(py 'import os, sys; print(os.listxattr(sys.argv[1], follow_symlinks=False))' "$M/current")"
long=$(printf 'x%.0s' $(seq 4095))
check "a target of 4095 bytes" ln -s "$long" "$M/long"
check_eq "comes back whole" 4095 "$(readlink "$M/long" | tr -d '\n' | wc -c)"
check_errno "a target of 4096 bytes: ENAMETOOLONG" ENAMETOOLONG symlink "x$long" "$M/longer"
check "a hard link to a symlink" ln -P "$M/current" "$M/current2"
check_eq "both names count" 2 "$(stat -c %h "$M/current")"
check "rename a symlink" mv "$M/current2" "$M/newest"
check_eq "it keeps its target" ../target/of/choice "$(readlink "$M/newest")"
# The kernel caches readlink's answer (FUSE_CAP_CACHE_SYMLINKS): a name that
# comes to hold a new symlink must show the new target, however it changed.
readlinks() { gm_stats 'd["requests"]["readlink"]'; }
ln -s first "$M/moving"
readlink "$M/moving" >/dev/null
before=$(readlinks)
for _ in 1 2 3; do readlink "$M/moving" >/dev/null; done
check_eq "readlink again: answered from the kernel's cache" "$before" "$(readlinks)"
check "unlink it" rm "$M/moving"
check "a new symlink under the same name" ln -s second "$M/moving"
check_eq "shows the new target" second "$(readlink "$M/moving")"
ln -s third "$M/moving.new"
readlink "$M/moving.new" >/dev/null
check "rename another symlink over it" mv -T "$M/moving.new" "$M/moving"
check_eq "shows that one's target" third "$(readlink "$M/moving")"
rm "$M/moving"

check_eq "gmemctl ls shows it as a symlink" "l symlink" \
	"$("$GMEMCTL" ls "$M" | awk '$NF == "newest" { print $1 }') $("$GMEMCTL" --json ls "$M" |
		python3 -c 'import json, sys; print(next(e["type"] for e in json.load(sys.stdin) if e["name"] == "newest"))')"

# --- fifos ---
check "mkfifo" mkfifo -m 0620 "$M/console"
check_eq "a fifo, mode 0620" "fifo 620" "$(stat -c '%F %a' "$M/console")"
# shellcheck disable=SC2016 # the inner shell expands $1
timeout 10 sh -c 'echo "through the pipe" >"$1"' _ "$M/console" &
writer=$!
check_eq "a reader gets what a writer sent" "through the pipe" \
	"$(timeout 10 cat "$M/console")"
wait "$writer"
check "a hard link to a fifo" ln "$M/console" "$M/console2"

# --- unix sockets ---
check_eq "bind, listen, connect and talk over a socket on the mount" pong "$(py '
import os, socket, sys
srv = socket.socket(socket.AF_UNIX); srv.bind(sys.argv[1]); srv.listen(1)
cli = socket.socket(socket.AF_UNIX); cli.settimeout(10); cli.connect(sys.argv[1])
conn, _ = srv.accept(); conn.sendall(b"pong"); print(cli.recv(4).decode())
' "$M/qmp.sock")"
check_eq "the socket stays in the namespace" socket "$(stat -c %F "$M/qmp.sock")"

# --- device nodes: kept, but the mount is nodev ---
check "mknod c 1 5" mknod -m 0666 "$M/zero" c 1 5
check "mknod b 7 1" mknod -m 0660 "$M/loop1" b 7 1
check_eq "device numbers" "1:5 7:1" \
	"$(stat -c '%Hr:%Lr' "$M/zero") $(stat -c '%Hr:%Lr' "$M/loop1")"
check_fails "opening a device node on a nodev mount is refused" "Permission denied" \
	head -c 1 "$M/zero"

check_eq "none of these took pool memory" "$used" "$(gm_statfs_used)"
check_eq "nor show up among files in the stats view" '["/data"]' \
	"$(gm_stats '[f["path"] for f in d["files"]]' | tr "'" '"')"

# --- set-user-ID and set-group-ID ---
mkmode() { echo x >"$1" && chmod "$2" "$1"; }
mkmode "$M/suid-w" 4777
mkmode "$M/sgid-w" 2777
mkmode "$M/sgid-nx-w" 2666
mkmode "$M/sgid-nx-member" 2666
mkmode "$M/suid-root" 4777
mkmode "$M/both-t" 6777
mkmode "$M/both-chown" 6555
mkmode "$M/sgid-nx-chown" 2545
# shellcheck disable=SC2016 # the inner shell expands $1
append='echo y >>"$1"'
gm_as_nobody sh -c "$append" _ "$M/suid-w"
check_eq "another user's write clears set-user-ID" 777 "$(mode_of "$M/suid-w")"
gm_as_nobody sh -c "$append" _ "$M/sgid-w"
check_eq "another user's write clears set-group-ID" 777 "$(mode_of "$M/sgid-w")"
gm_as_nobody sh -c "$append" _ "$M/sgid-nx-w"
check_eq "and set-group-ID without group-execute, for a non-member" 666 \
	"$(mode_of "$M/sgid-nx-w")"
setpriv --reuid=65534 --regid=0 --clear-groups sh -c "$append" _ "$M/sgid-nx-member"
check_eq "but not for a member of the file's group" 2666 "$(mode_of "$M/sgid-nx-member")"
sh -c "$append" _ "$M/suid-root"
check_eq "root's write (CAP_FSETID) keeps set-user-ID" 4777 "$(mode_of "$M/suid-root")"
check_eq "the writes went through passthrough" 2 "$(wc -l <"$M/suid-w")"
gm_as_nobody truncate -s 0 "$M/both-t"
check_eq "another user's truncate clears both" 777 "$(mode_of "$M/both-t")"
chown 65534:65533 "$M/both-chown"
check_eq "chown clears both" 555 "$(mode_of "$M/both-chown")"
mkmode "$M/own-chgrp" 6555
chown 65534:0 "$M/own-chgrp"
chmod 6555 "$M/own-chgrp"
setpriv --reuid=65534 --regid=65534 --groups=65533 chgrp 65533 "$M/own-chgrp"
check_eq "the owner's chgrp to a group of its own clears both" 555 \
	"$(mode_of "$M/own-chgrp")"
mkfifo "$M/fifo-6555" && chown 65534:65533 "$M/fifo-6555" && chmod 6555 "$M/fifo-6555"
setpriv --reuid=65534 --regid=65533 --groups=65533,65532 chgrp 65532 "$M/fifo-6555"
check_eq "and so does it for a fifo, as for every non-directory" 555 \
	"$(mode_of "$M/fifo-6555")"
chown 7:7 "$M/sgid-nx-chown"
check_eq "root's chown keeps set-group-ID without group-execute" 2545 \
	"$(mode_of "$M/sgid-nx-chown")"

# --- setgid directories and the sticky bit ---
mkdir "$M/shared" && chown 0:1234 "$M/shared" && chmod 2777 "$M/shared"
mkdir "$M/shared/sub"
: >"$M/shared/file"
check_eq "a setgid directory hands down its group, and to directories its bit" \
	"1234 2755 1234" "$(stat -c '%g %a' "$M/shared/sub") $(stat -c %g "$M/shared/file")"
mkdir -m 1777 "$M/tmp"
: >"$M/tmp/roots"
check_fails "sticky directory: another user cannot remove root's file" \
	"Operation not permitted" gm_as_nobody rm -f "$M/tmp/roots"
check_fails "nor rename it" "Operation not permitted" \
	gm_as_nobody mv "$M/tmp/roots" "$M/tmp/mine"
gm_as_nobody touch "$M/tmp/nobodys"
check "but can remove its own" gm_as_nobody rm "$M/tmp/nobodys"

# --- no attribute nobody set, no I/O size nobody asked for ---
listx='import os, sys; print(" ".join(os.listxattr(sys.argv[1])) or "none")'
head -c 4M /dev/zero >"$M/plain"
check_eq "a file on the mount's default policy lists no xattr" none "$(py "$listx" "$M/plain")"
check_eq "but its policy can be read by name" auto "$(gm_pagesize "$M/plain")"
check_eq "st_blksize is tmpfs's 4096, not a huge page" 4096 "$(stat -c %o "$M/plain")"
mkdir "$M/small" && setfattr -n user.gmemfs.pagesize -v 4k "$M/small"
: >"$M/small/f"
check_eq "a directory with a policy of its own lists it" user.gmemfs.pagesize \
	"$(py "$listx" "$M/small")"
check_eq "and so does a file whose policy is not the mount's default" user.gmemfs.pagesize \
	"$(py "$listx" "$M/small/f")"

# --- trusted.* xattrs, as overlayfs keeps them on its upper layer ---
mkdir "$M/upper"
check "setfattr trusted.overlay.opaque" setfattr -n trusted.overlay.opaque -v y "$M/upper"
check_eq "getfattr gives it back" y \
	"$(getfattr --absolute-names --only-values -n trusted.overlay.opaque "$M/upper")"
check_eq "root's listing shows it" trusted.overlay.opaque "$(py "$listx" "$M/upper")"
check_eq "another user's does not" none \
	"$(gm_as_nobody /usr/bin/python3 -c "$listx" "$M/upper")"
check_fails "nor may another user set one" "Operation not permitted" \
	gm_as_nobody setfattr -n trusted.x -v 1 "$M/tmp"

# --- an xattr change moves ctime, of files and directories alike ---
: >"$M/xc" && mkdir "$M/xcd"
# shellcheck disable=SC2317 # called through check
ctime_moves() {
	local before
	before=$(stat -c %z "$2")
	sleep 0.05
	"$1" "${@:3}" "$2" && test "$(stat -c %z "$2")" != "$before"
}
for f in "$M/xc" "$M/xcd"; do
	check "setxattr moves the ctime of $(basename "$f")" ctime_moves setfattr "$f" -n user.c -v 1
	check "removexattr too" ctime_moves setfattr "$f" -x user.c
done
rm -r "$M/xc" "$M/xcd"

# --- RENAME_WHITEOUT, and overlayfs with its upper layer on the mount ---
echo moved >"$M/wo-src"
check_eq "rename with RENAME_WHITEOUT leaves a 0/0 character device" "character special file 0:0, moved" "$(py '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 4):
    sys.exit(os.strerror(ctypes.get_errno()))
' "$M/wo-src" "$M/wo-dst" && echo "$(stat -c '%F %Hr:%Lr' "$M/wo-src"), $(cat "$M/wo-dst")")"
mkdir -p "$GM_TMP/lower" "$GM_TMP/merged" "$M/ovl/upper" "$M/ovl/work"
echo lower >"$GM_TMP/lower/from-below"
if mount -t overlay overlay -o "lowerdir=$GM_TMP/lower,upperdir=$M/ovl/upper,workdir=$M/ovl/work" \
	"$GM_TMP/merged" 2>"$GM_TMP/ovl.err"; then
	gm_pass "overlayfs mounts with its upper layer on gmemfs"
	rm "$GM_TMP/merged/from-below"
	echo new >"$GM_TMP/merged/made-above"
	check_eq "a file of the lower layer removed through it is a whiteout above" \
		"character special file 0:0" "$(stat -c '%F %Hr:%Lr' "$M/ovl/upper/from-below")"
	check_eq "and gone from the merged view" "made-above" "$(ls "$GM_TMP/merged")"
	umount "$GM_TMP/merged"
else
	gm_fail "overlayfs mounts with its upper layer on gmemfs"
	sed 's/^/#   /' "$GM_TMP/ovl.err"
fi

# --- the stats view shows a reader only what it could list ---
mkdir -m 0700 "$M/private"
: >"$M/private/secret-vm.ram"
mkdir -m 0711 "$M/searchable"
: >"$M/searchable/hidden.ram"
paths='" ".join(sorted(f["path"] for f in d["files"]))'
check "root sees every file in .gmemfs/stats" grep -q /private/secret-vm.ram "$M/$GMEMFS_STATS"
nobody_view=$(gm_as_nobody /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["pool"]["budget"] > 0, " ".join(sorted(f["path"] for f in d["files"])))
' "$M/$GMEMFS_STATS")
check_eq "another user sees the pool, and no file in a directory it cannot list" \
	"True $(gm_stats "$paths" | tr ' ' '\n' | grep -v -e '^/private/' -e '^/searchable/' |
		tr '\n' ' ' | sed 's/ $//')" "$nobody_view"

# --- O_TMPFILE: memory without a name, until linkat() gives it one ---
mkdir "$M/tmpf"
check_eq "an O_TMPFILE file is written, unseen, then linked in" "unseen, named, 5" "$(py '
import ctypes, os, sys
d = sys.argv[1]
fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
os.write(fd, b"hello")
os.fchmod(fd, 0o640)			# changes before the first link are part
os.setxattr(fd, "user.origin", b"tmp")	# of the file the journal records then
seen = "seen" if os.listdir(d) else "unseen"
libc = ctypes.CDLL(None, use_errno=True)
if libc.linkat(fd, b"", -100, (d + "/named").encode(), 0x1000):	# AT_EMPTY_PATH
    sys.exit(os.strerror(ctypes.get_errno()))
print("%s, %s, %d" % (seen, "named" if os.listdir(d) == ["named"] else "?",
                      os.stat(d + "/named").st_size))
' "$M/tmpf")"
check_eq "O_TMPFILE|O_EXCL cannot be linked: ENOENT" ENOENT "$(py '
import ctypes, errno, os, sys
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_EXCL | os.O_RDWR, 0o600)
libc = ctypes.CDLL(None, use_errno=True)
r = libc.linkat(fd, b"", -100, (sys.argv[1] + "/never").encode(), 0x1000)
print("linked" if r == 0 else errno.errorcode[ctypes.get_errno()])
' "$M/tmpf")"
check "fchmod, fsetxattr and chattr of a removed file still open" py '
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.unlink(sys.argv[1])
os.fchmod(fd, 0o640)
os.setxattr(fd, "user.k", b"v")
fcntl.ioctl(fd, 0x40086602, struct.pack("i", 0x40))	# FS_IOC_SETFLAGS: nodump
' "$M/tmpf/removed-open"
used=$(gm_statfs_used)
py 'import os, sys
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o600)
os.posix_fallocate(fd, 0, 8 << 20)' "$M/tmpf"
check "an unnamed O_TMPFILE file gives its memory back when closed" \
	gm_poll 10 gm_statfs_used_is "$used"

# --- atime follows the mount's rule: relatime here, noatime after the restart ---
echo "read me" >"$M/atime"
touch -a -d '2001-01-01 00:00:00 UTC' "$M/atime"
cat "$M/atime" >/dev/null
check "relatime: a read after an older atime updates it" \
	test "$(stat -c %X "$M/atime")" -gt 978307200

# --- times and link counts when rename() replaces ---
echo a >"$M/src"
echo b >"$M/dst"
ln "$M/dst" "$M/dst-too"
# shellcheck disable=SC2016 # python reads its arguments
check_eq "rename over a multiply linked file: its ctime moves, its other name stays" \
	"ctime moved, nlink 1" "$(py '
import os, sys, time
src, dst, other = sys.argv[1:]
before = os.stat(other).st_ctime_ns
time.sleep(0.01)
os.rename(src, dst)
st = os.stat(other)
print("%s, nlink %d" % ("ctime moved" if st.st_ctime_ns > before else "ctime kept",
                        st.st_nlink))
' "$M/src" "$M/dst" "$M/dst-too")"
echo c >"$M/src"
check_eq "rename over an open file: fstat says nlink 0" 0 "$(py '
import os, sys
fd = os.open(sys.argv[2], os.O_RDONLY)
os.rename(sys.argv[1], sys.argv[2])
print(os.fstat(fd).st_nlink)
' "$M/src" "$M/dst-too")"

mkdir "$M/dir-a" "$M/dir-b"
check_eq "rename over an open directory: fstat says nlink 0" 0 "$(py '
import os, sys
fd = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECTORY)
os.rename(sys.argv[1], sys.argv[2])
print(os.fstat(fd).st_nlink)
' "$M/dir-a" "$M/dir-b")"

# --- file handles: open_by_handle_at after the kernel forgot the inode ---
# fh OP PATH...: "save" writes PATH's handle to PATH.fh in $GM_TMP; "open"
# opens by it (dropping the kernel's dentries and inodes first, so that
# the daemon is asked) and prints what it read, or the errno.
fh() {
	python3 -c 'import ctypes, errno, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
op, path, keep = sys.argv[1], sys.argv[2], sys.argv[3] + "/" + os.path.basename(sys.argv[2]) + ".fh"
if op == "save":
    buf = ctypes.create_string_buffer(136)
    struct.pack_into("II", buf, 0, 128, 0)
    if libc.name_to_handle_at(-100, path.encode(), buf, ctypes.byref(ctypes.c_int()), 0):
        sys.exit(os.strerror(ctypes.get_errno()))
    open(keep, "wb").write(buf.raw)
    sys.exit(0)
buf = ctypes.create_string_buffer(open(keep, "rb").read())
open("/proc/sys/vm/drop_caches", "w").write("2\n")
mnt = os.open(sys.argv[4], os.O_RDONLY | os.O_DIRECTORY)
fd = libc.open_by_handle_at(mnt, buf, os.O_RDONLY)
if fd < 0:
    print(errno.errorcode[ctypes.get_errno()])
elif os.path.isdir("/proc/self/fd/%d" % fd):
    print(" ".join(sorted(os.listdir(fd))))
else:
    print(os.read(fd, 64).decode())' "$1" "$2" "$GM_TMP" "$M"
}
echo "kept by handle" >"$M/byhandle"
mkdir "$M/hdir" && touch "$M/hdir/inside"
echo "short-lived" >"$M/gone"
# shellcheck disable=SC2317 # called through check
fh_save_all() { fh save "$M/byhandle" && fh save "$M/hdir" && fh save "$M/gone"; }
check "name_to_handle_at of a file, a directory, and a file to remove" fh_save_all
check_eq "open_by_handle_at of the file reads it" "kept by handle" "$(fh open "$M/byhandle")"
check_eq "of the directory lists it" inside "$(fh open "$M/hdir")"
rm "$M/gone"
check_eq "of a removed file: ESTALE" ESTALE "$(fh open "$M/gone")"

# --- all of it back after kill -9, and device nodes work where allowed ---
# The newest inode, removed: a compaction forgets it, and its number must
# still not come back.
: >"$M/newest-gone"
last_ino=$(stat -c %i "$M/newest-gone")
fh save "$M/newest-gone" && rm "$M/newest-gone"
gm_tree >"$GM_TMP/before"
check "gmemfsd is killed" gm_stop KILL
umount -l "$M"
gm_start -o dev,noatime --shrink-mapped=allow --views=visible ||
	gm_bail "gmemfsd mounts again, with -o dev,noatime"
gm_tree >"$GM_TMP/after"
check "symlinks, fifos, sockets and device nodes are back, links and modes too" \
	diff "$GM_TMP/before" "$GM_TMP/after"
check_eq "the symlink's target too" ../target/of/choice "$(readlink "$M/newest")"
check_eq "a handle from before the restart still opens its file" "kept by handle" \
	"$(fh open "$M/byhandle")"
check_eq "and its directory" inside "$(fh open "$M/hdir")"
check "a second start, after the first one compacted the journal" gm_stop
gm_start -o dev,noatime --shrink-mapped=allow --views=visible ||
	gm_bail "gmemfsd mounts a third time"
: >"$M/after-restart"
check "a new file does not get the number of the newest removed one" \
	test "$(stat -c %i "$M/after-restart")" -gt "$last_ino"
check_eq "whose handle stays stale" ESTALE "$(fh open "$M/newest-gone")"
rm -f "$M/after-restart"
check_eq "with --views=visible the root's listing shows .gmemfs" .gmemfs \
	"$(find "$M" -mindepth 1 -maxdepth 1 -name .gmemfs -printf %f)"
check_eq "the linked O_TMPFILE file's bytes too" hello "$(cat "$M/tmpf/named")"
check_eq "and the mode and xattr it was given before its link" "640 tmp" \
	"$(stat -c %a "$M/tmpf/named") $(getfattr --only-values -n user.origin "$M/tmpf/named")"
check_eq "every journal record applied" 0 "$(grep -c 'did not apply' "$GM_LOG")"
touch -a -d '2001-01-01 00:00:00 UTC' "$M/atime"
cat "$M/atime" >/dev/null
check_eq "noatime: a read leaves atime alone" 978307200 "$(stat -c %X "$M/atime")"
check_eq "on a mount with -o dev the device node opens: 4 zero bytes" 00000000 \
	"$(head -c 4 "$M/zero" | od -An -tx1 | tr -d ' \n')"
check "rm of a symlink, a fifo, a socket and a device node" \
	rm "$M/current" "$M/console" "$M/qmp.sock" "$M/loop1"
check_eq "a hard link of the fifo is left" fifo "$(stat -c %F "$M/console2")"

# --- shrinking a mapped file: refused by default (t-badinput), allowed here ---
check "a VMM maps a 4 MiB file" gm_hold_start vmm "$M/plain" 4M
check "with --shrink-mapped=allow, truncate below the mapping goes ahead" \
	truncate -s 2M "$M/plain"
check_eq "to the size asked" $((2 << 20)) "$(stat -c %s "$M/plain")"
gm_hold_stop vmm
check_no_data_requests

# --- -o strictatime (libfuse's mount knows only noatime): every read moves atime ---
check "gmemfsd stops" gm_stop TERM
gm_start -o strictatime || gm_bail "gmemfsd mounts with -o strictatime"
check_eq "the mount says so: neither relatime nor noatime" "" \
	"$(findmnt -n -o OPTIONS "$M" | tr ',' '\n' | grep -x -e relatime -e noatime)"
cat "$M/atime" >/dev/null
first=$(stat -c %X "$M/atime")
sleep 1.1
cat "$M/atime" >/dev/null
check "a second read a second later moves atime again (relatime would not)" \
	test "$(stat -c %X "$M/atime")" -gt "$first"
gm_done

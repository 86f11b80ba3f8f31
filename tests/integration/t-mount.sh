#!/bin/bash
#
# t-mount: gmemfs mounted the way an operator mounts any filesystem, through
# mount(8) and the helper mount.fuse.gmemfs: "mount -t fuse.gmemfs gmemfs
# DIR -o pool_size=...,pagesize=..." and the same line in an fstab (read
# with mount -T FILE, so /etc/fstab is not touched).  The options take
# effect (the pool in statfs, the root's page-size policy), mount(8)'s and
# fstab's own options (nofail, noauto, _netdev, x-*, comment=) do not reach
# gmemfsd, mount(8) returns with the mount serving, umount(8) ends the
# daemon, the files survive into the next mount on the same state dir, and
# an unknown option is refused with nothing mounted.  A value with a comma
# (a fallback policy) passes escaped, pagesize=2m\,fallback=4k.
# mount(8) looks for helpers in /sbin (= /usr/sbin): the test lays the
# build tree's helper over /usr/sbin with a read-only overlay in its
# private mount namespace, gone when the test ends; GMEMFSD (meson sets it)
# makes the helper run the build tree's gmemfsd.
# Not for: gmemfsd's option parsing in detail (check_path.c, t-badinput).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
HELPER=${GM_BUILD_ROOT:-}/tools/mount/mount.fuse.gmemfs
[[ -f $HELPER ]] || { echo "no mount helper at $HELPER (GM_BUILD_ROOT)"; exit 1; }
export GMEMFSD
M=$GM_MNT
S=$GM_STATE
X=user.gmemfs.pagesize
SBIN=$(mktemp -d "$GM_TMP/sbin.XXXXXX")
install -m 0755 "$HELPER" "$SBIN/mount.fuse.gmemfs"
mount -t overlay gm-sbin -o "ro,lowerdir=$SBIN:/usr/sbin" /usr/sbin ||
	gm_bail "lay the helper over /usr/sbin"
check "mount(8) finds the helper in /sbin" test -x /sbin/mount.fuse.gmemfs

# The daemon serving $M: the one holding the state dir's lock.
daemon_pid() { gm_lock_holders "$S/lock"; }
pool_bytes() { stat -f -c '%b %S' "$M" | awk '{ print $1 * $2 }'; }
# shellcheck disable=SC2317 # called through gm_poll
gone() { [[ -z $(daemon_pid) ]] && gm_unmounted; }

# umount(8), then the daemon must exit and the mount be gone.
unmount() {
	local pid
	pid=$(daemon_pid)
	check "$1: one daemon serves the mount" test -n "$pid"
	check "$1: umount" umount "$M"
	check "$1: gmemfsd exits, nothing mounted at $M" gm_poll 10 gone
}

# --- mount -t fuse.gmemfs ---
check "mount -t fuse.gmemfs -o pool_size=1G,pagesize=4k,... returns 0" \
	mount -t fuse.gmemfs gmemfs "$M" \
	-o "pool_size=1G,pagesize=4k,state_dir=$S,log_level=warn,nofail,x-gm.test=1,comment=t"
# No wait: mount(8) must return with the mount serving.
check_eq "at once, statfs shows the 1 GiB pool" $((1 << 30)) "$(pool_bytes)"
check_eq "the root's page-size policy is 4k" 4k \
	"$(getfattr --absolute-names --only-values -n "$X" "$M" 2>&1)"
check_eq "the mount's type and source" "fuse.gmemfs gmemfs" \
	"$(findmnt -n -o FSTYPE,SOURCE "$M" | tr -s ' ')"
head -c 3M /dev/urandom >"$GM_TMP/bytes"
check "a 3 MiB file written" cp "$GM_TMP/bytes" "$M/ram"
unmount "mount -t"

# --- the same line in an fstab, with fstab's own options ---
FSTAB=$GM_TMP/fstab
printf '%s %s fuse.gmemfs %s 0 0\n' gmemfs "$M" \
	"pool_size=512M,pagesize=2m-thp,state_dir=$S,noauto,nofail,_netdev,x-systemd.requires=a.service,defaults" \
	>"$FSTAB"
check "mount -T FSTAB DIR (the line's options from the file)" mount -T "$FSTAB" "$M"
check_eq "statfs shows the fstab line's 512 MiB pool" $((512 << 20)) "$(pool_bytes)"
check_eq "the root's page-size policy is 2m-thp" 2m-thp \
	"$(getfattr --absolute-names --only-values -n "$X" "$M" 2>&1)"
check "the file from the first mount, byte for byte" cmp "$GM_TMP/bytes" "$M/ram"
unmount "fstab"

# --- a value with a comma, escaped as libfuse's -o lists escape it ---
check "mount -o 'pagesize=2m\\,fallback=4k'" \
	mount -t fuse.gmemfs gmemfs "$M" -o "state_dir=$S,pagesize=2m\\,fallback=4k"
check_eq "the root's policy is 2m,fallback=4k" 2m,fallback=4k \
	"$(getfattr --absolute-names --only-values -n "$X" "$M" 2>&1)"
unmount "escaped comma"

# --- refusals: nothing mounted, no daemon left ---
check_fails "an unknown option is refused" "unknown option" \
	mount -t fuse.gmemfs gmemfs "$M" -o "state_dir=$S,bogus=1"
check_fails "a bad value is refused" "pool-size=lots" \
	mount -t fuse.gmemfs gmemfs "$M" -o "state_dir=$S,pool_size=lots"
check "after the refusals, nothing mounted and no daemon" gone
gm_done

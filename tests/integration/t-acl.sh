#!/bin/bash
#
# t-acl: POSIX ACLs as a local filesystem keeps them, through setfacl and
# getfacl: a named user's entry grants what the mode does not; the mode's
# group bits are the mask, both ways (setfacl and chmod); a directory's
# default ACL, not the umask, shapes new files and directories, which
# inherit it; set-group-ID goes when a non-member sets an ACL; a default
# ACL only on directories; all of it back after kill -9.
# Not for: xattrs in general (t-posix, t-basic).
# shellcheck disable=SC2016,SC2119 # inner shells expand their own arguments;
# gm_start takes options, never this script's arguments

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

gm_start || gm_bail "gmemfsd mounts"
M=$GM_MNT
acl_of() { getfacl -n -c -E "$1" 2>/dev/null | grep -v '^$' | tr '\n' ' ' | sed 's/ $//'; }
umask 022

# --- an access ACL ---
echo data >"$M/f" && chmod 600 "$M/f"
check_fails "without an entry, uid 65534 cannot write" "Permission denied" \
	gm_as_nobody sh -c 'echo x >>"$1"' _ "$M/f"
check "setfacl -m u:65534:rw" setfacl -m u:65534:rw "$M/f"
check_eq "getfacl shows it, with a mask" \
	"user::rw- user:65534:rw- group::--- mask::rw- other::---" "$(acl_of "$M/f")"
check_eq "the mode's group bits are the mask" 660 "$(stat -c %a "$M/f")"
check "now uid 65534 can write" gm_as_nobody sh -c 'echo x >>"$1"' _ "$M/f"
check "chmod 640" chmod 640 "$M/f"
check_eq "moves the mask" "user::rw- user:65534:rw- group::--- mask::r-- other::---" \
	"$(acl_of "$M/f")"
check_fails "and the entry counts only through it" "Permission denied" \
	gm_as_nobody sh -c 'echo y >>"$1"' _ "$M/f"
check "setfacl -b removes the ACL" setfacl -b "$M/f"
check_eq "leaving the mode's three entries" "user::rw- group::--- other::---" "$(acl_of "$M/f")"
check_eq "and no xattr" "" "$(getfattr -d -m - "$M/f" 2>/dev/null | grep -c posix_acl | sed 's/^0$//')"
check_eq "an ACL that says what the mode says is not kept" "" \
	"$(setfacl -m u::rw,g::r,o::r "$M/f" && getfattr -d -m system "$M/f" 2>/dev/null)"
check_eq "but sets the mode" 644 "$(stat -c %a "$M/f")"

# --- default ACLs ---
mkdir "$M/shared"
check "setfacl -d on a directory" setfacl -d -m u:65534:rwx,g::rx,o::- "$M/shared"
dflt=$(getfattr -e hex -n system.posix_acl_default "$M/shared" 2>/dev/null |
	sed -n 's/^system.posix_acl_default=//p')
check_fails "not on a file (the xattr itself; setfacl will not try)" "Permission denied" \
	setfattr -n system.posix_acl_default -v "$dflt" "$M/f"
touch "$M/shared/new" && mkdir "$M/shared/sub" && mkdir "$M/plain"
check_eq "a new file inherits it, masked by its create mode, not the umask" \
	"660 user::rw- user:65534:rwx group::r-x mask::rw- other::---" \
	"$(stat -c %a "$M/shared/new") $(acl_of "$M/shared/new")"
check_eq "a new directory inherits it and passes it on" \
	"5 default:user:65534:rwx" \
	"$(acl_of "$M/shared/sub" | tr ' ' '\n' | grep -c '^default:') $(acl_of "$M/shared/sub" |
		tr ' ' '\n' | grep '^default:user:65534')"
check_eq "the umask still applies where there is no default ACL" 755 "$(stat -c %a "$M/plain")"
check "uid 65534 writes the inherited file" gm_as_nobody sh -c 'echo z >"$1"' _ "$M/shared/new"

# --- set-group-ID ---
echo s >"$M/sgid" && chown 65534:0 "$M/sgid" && chmod 2770 "$M/sgid"
check "its owner, not in its group, sets an ACL" \
	gm_as_nobody setfacl -m u:65534:rwx,g::rwx,o::- "$M/sgid"
check_eq "and set-group-ID is gone" 770 "$(stat -c %a "$M/sgid")"

# --- back after kill -9 ---
before=$(for f in f shared shared/new shared/sub sgid; do acl_of "$M/$f"; stat -c %a "$M/$f"; done)
check "gmemfsd is killed" gm_stop KILL
umount -l "$M"
gm_start || gm_bail "gmemfsd mounts again"
check_eq "every ACL and mode is back" "$before" \
	"$(for f in f shared shared/new shared/sub sgid; do acl_of "$M/$f"; stat -c %a "$M/$f"; done)"
check "uid 65534 still writes through its entry" gm_as_nobody sh -c 'echo w >"$1"' _ "$M/shared/new"
check_eq "every journal record applied" 0 "$(grep -c 'did not apply' "$GM_LOG")"

check_no_data_requests
gm_done

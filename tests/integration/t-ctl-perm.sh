#!/bin/bash
#
# t-ctl-perm: the control socket acts on a file only as its mode, or its
# POSIX ACL, allows the client's uid, gid and supplementary groups
# (SO_PEERCRED, SO_PEERGROUPS); root may do everything but take writable
# memory of an immutable or append-only file.  Clients drop to uid 65534 (gm-ctl --as: setgroups,
# setresgid, setresuid) before they connect.
# Not for: the commands themselves (t-ctl.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

gm_start --pool-size=128M || gm_bail "gmemfsd mounts"
M=$GM_MNT
SOCK=$GM_STATE.sock
ctl() { "$GM_BIN/gm-ctl" "$@" | head -n 1 | cut -d: -f1; }
NOBODY=(--as 65534:65534 "$SOCK")
GROUPED=(--as 65534:65534:4242 "$SOCK")

mkdir "$M/pub" "$M/private"
chmod 0755 "$M/pub"
chmod 0700 "$M/private"
truncate -s 1M "$M/pub/mine" "$M/pub/ro" "$M/pub/group" "$M/private/f"
chown 65534:65534 "$M/pub/mine"
chmod 0600 "$M/pub/mine"
chmod 0644 "$M/pub/ro"
chown 0:4242 "$M/pub/group"
chmod 0660 "$M/pub/group"

check_eq "nobody can connect (the socket is 0666)" "budget" "$(ctl "${NOBODY[@]}" pool | cut -d= -f1)"
check_eq "nobody opens its own 0600 file" "fd=rdwr cloexec=1" "$(ctl "${NOBODY[@]}" open pub/mine)"
check_eq "nobody may not open root's 0644 file (no write)" "error EACCES" \
	"$(ctl "${NOBODY[@]}" open pub/ro)"
check_eq "but may read its info" "id=$(gm_info "$M/pub/ro" id)" "$(ctl "${NOBODY[@]}" info pub/ro)"
check_eq "and its policy (read permission)" "auto" "$(ctl "${NOBODY[@]}" policy-get pub/ro)"
check_eq "not set its policy (write permission)" "error EACCES" \
	"$(ctl "${NOBODY[@]}" policy-set pub/ro 4k)"
check_eq "nothing below a 0700 root directory: no search permission" "error EACCES" \
	"$(ctl "${NOBODY[@]}" info private/f)"
check_eq "nor list it" "error EACCES" "$(ctl "${NOBODY[@]}" list private)"
check_eq "root may open it" "fd=rdwr cloexec=1" "$(ctl "$SOCK" open private/f)"
check_eq "a 0660 file of group 4242: refused without the group" "error EACCES" \
	"$(ctl "${NOBODY[@]}" open pub/group)"
check_eq "allowed with 4242 as a supplementary group" "fd=rdwr cloexec=1" \
	"$(ctl "${GROUPED[@]}" open pub/group)"
check_eq "allowed with 4242 as the primary group" "fd=rdwr cloexec=1" \
	"$(ctl --as 65534:4242 "$SOCK" open pub/group)"
check_eq "nobody lists a 0755 directory" "group mine ro" \
	"$("$GM_BIN/gm-ctl" "${NOBODY[@]}" list pub | awk '{ print $1 }' | sort | xargs)"
check_eq "nobody's refusal is logged with its uid" 1 \
	"$(grep -c "uid 65534: open 'pub/ro': uid 65534 gid 65534 may not read and write" "$GM_LOG")"
chmod 0600 "$M/pub/ro"
check_eq "a mode change applies at once" "error EACCES" "$(ctl "${NOBODY[@]}" policy-get pub/ro)"
# ACLs decide where a file has one, as the kernel decides for the mount.
truncate -s 1M "$M/pub/acl-deny" "$M/pub/acl-grant" "$M/pub/frozen"
chmod 0666 "$M/pub/acl-deny" && setfacl -m u:65534:--- "$M/pub/acl-deny"
chmod 0600 "$M/pub/acl-grant" && setfacl -m u:65534:rw "$M/pub/acl-grant"
check_eq "an ACL entry denies what the mode's other bits would give" "error EACCES" \
	"$(ctl "${NOBODY[@]}" policy-get pub/acl-deny)"
check_eq "an ACL entry grants what the mode does not" "fd=rdwr cloexec=1" \
	"$(ctl "${NOBODY[@]}" open pub/acl-grant)"
chmod 0640 "$M/pub/acl-grant"
check_eq "and the mask (chmod g-w) takes write back" "error EACCES" \
	"$(ctl "${NOBODY[@]}" open pub/acl-grant)"
chattr +i "$M/pub/frozen"
check_eq "root opens no immutable file for writing" "error EACCES" "$(ctl "$SOCK" open pub/frozen)"
chattr -i "$M/pub/frozen"
# gmemctl as nobody: finds the socket through the mount, gets the reason.
check_fails "gmemctl as nobody: refused with the daemon's reason" "may not read and write" \
	setpriv --reuid 65534 --regid 65534 --clear-groups "$GMEMCTL" exec --fd 3="$M/pub/ro" -- true

gm_done

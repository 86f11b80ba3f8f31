#!/bin/bash
#
# t-ctl: every control-socket command on a real mount, through libgmemfs
# (gm-ctl) and through gmemctl: the socket found from the mount, info
# against GMEMFS_IOC_INFO, open (the fd is the backing: bytes written
# through it read back through the mount), policy get/set (and the xattr
# agreeing), list, pool against statfs, gmemctl exec with an inherited fd,
# and a client that stops reading, which must stall nobody else.
# Not for: permissions (t-ctl-perm.sh), malformed messages (t-ctl-hostile.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
[[ -x ${GMEMCTL:-} ]] || { echo "GMEMCTL must name gmemctl (meson sets it)"; exit 1; }

gm_start --pool-size=256M || gm_bail "gmemfsd mounts"
M=$GM_MNT
SOCK=$GM_STATE.sock
CTL=("$GM_BIN/gm-ctl" "$SOCK")

# ctl_field CMD ARGS... KEY: one key=value field of gm-ctl's answer.
ctl_field() {
	local key=${*: -1}
	"${CTL[@]}" "${@:1:$#-1}" | awk -F= -v k="$key" '$1 == k { print $2 }'
}

# --- finding the socket ---
check "the log names the control socket" grep -qF "control socket $SOCK" "$GM_LOG"
check_eq "the mount root's xattr names the socket" "$SOCK" \
	"$(getfattr --absolute-names --only-values -n user.gmemfs.ctl-socket "$M")"
check_eq "the socket is a socket any user may connect to" "srw-rw-rw-" "$(stat -c %A "$SOCK")"
check_fails "the xattr is read-only" "Operation not permitted" \
	setfattr -n user.gmemfs.ctl-socket -v /tmp/x "$M"
mkdir "$M/d"
check_fails "only the mount root has it" "No such attribute" \
	getfattr -n user.gmemfs.ctl-socket "$M/d"

# --- info and open ---
truncate -s 8M "$M/a.ram"
truncate -s 4M "$M/d/b.ram"
for k in id provider_name size populated page_size; do
	check_eq "info: $k is what GMEMFS_IOC_INFO says" "$(gm_info "$M/a.ram" "$k")" \
		"$(ctl_field info a.ram "${k%_name}")"
done
check_eq "info of a directory: its policy" "auto" "$(ctl_field info d policy)"
check_eq "open hands over an O_RDWR, close-on-exec fd" "fd=rdwr cloexec=1" \
	"$("${CTL[@]}" open a.ram | head -n 1)"
check "writing through the handed-out fd" "${CTL[@]}" open d/b.ram "through the fd"
check_eq "reads back through the mount" "through the fd" "$(head -c 14 "$M/d/b.ram")"
check_eq "open of a directory: EISDIR" "error EISDIR" "$("${CTL[@]}" open d | cut -d: -f1)"
check_eq "open of a missing file: ENOENT" "error ENOENT" "$("${CTL[@]}" open nope | cut -d: -f1)"
check_eq "'./d//b.ram' names d/b.ram" "$(gm_info "$M/d/b.ram" id)" "$(ctl_field info ./d//b.ram id)"

# --- policy ---
touch "$M/empty"
check "policy-set 4k on an empty file" "${CTL[@]}" policy-set empty 4k
check_eq "policy-get says 4k" "4k" "$("${CTL[@]}" policy-get empty)"
check_eq "the xattr agrees" "4k" "$(gm_pagesize "$M/empty")"
check_eq "and the file moved to shmem-4k" "shmem-4k" "$(gm_info "$M/empty" provider_name)"
check_eq "policy-set on a file holding data: EBUSY" "error EBUSY" \
	"$("${CTL[@]}" policy-set d/b.ram 4k | cut -d: -f1)"
check_eq "policy-set to a bad value: EINVAL" "error EINVAL" \
	"$("${CTL[@]}" policy-set d bogus | cut -d: -f1)"
check "policy-set 4k on a directory" "${CTL[@]}" policy-set d 4k
truncate -s 1M "$M/d/new.ram"
check_eq "a new file below it is 4k" "shmem-4k" "$(gm_info "$M/d/new.ram" provider_name)"

# --- list ---
check_eq "list of the root: files and dirs, not .gmemfs" "a.ram file 8388608
d dir 0
empty file 0" "$("${CTL[@]}" list "" | sort)"
check_eq "list of d" "b.ram new.ram" "$("${CTL[@]}" list d | awk '{ print $1 }' | sort | xargs)"
check_eq "list of a file: ENOTDIR" "error ENOTDIR" "$("${CTL[@]}" list a.ram | cut -d: -f1)"
for i in $(seq 1 100); do : >"$M/d/f$i"; done
check_eq "list of 102 entries (several batches)" 102 "$("${CTL[@]}" list d | wc -l)"
check_eq "every name once" 102 "$("${CTL[@]}" list d | awk '{ print $1 }' | sort -u | wc -l)"

# The walk resumes each batch from a readdir cursor: names that stay are
# listed once each while others come and go between batches.
mkdir "$M/d/churn"
python3 -c 'import os, sys
for i in range(3000): open("%s/keep%04d" % (sys.argv[1], i), "w").close()' "$M/d/churn"
# shellcheck disable=SC2016 # the inner shell expands $1
timeout 60 bash -c 'i=0; while [[ ! -e $1/stop ]]; do
	: >"$1/c$i"; rm -f "$1/c$((i - 8))"; ((i++ == 50)) && : >"$1/ready"; done' _ "$M/d/churn" &
churner=$!
GM_KIDS+=("$churner")
check "names come and go" gm_poll 20 test -e "$M/d/churn/ready"
"${CTL[@]}" list d/churn >"$GM_TMP/churn.list"
: >"$M/d/churn/stop"
gm_poll 10 gm_dead "$churner"
gm_kid_done "$churner"
check_eq "listed while others change: each lasting name once" "3000 3000" \
	"$(awk '$1 ~ /^keep/ { print $1 }' "$GM_TMP/churn.list" | sort | uniq -c |
		awk '{ n++ } $1 == 1 { once++ } END { print n, once }')"

# --- pool ---
read -r _ size _ < <(gm_statfs)
check_eq "pool: the budget is statfs's size" "budget=$size" \
	"$("${CTL[@]}" pool | awk '{ print $1 }')"

# --- gmemctl ---
G=$GMEMCTL
# shellcheck disable=SC2016 # the inner shell expands $1 and $2
check "gmemctl ls shows the files" bash -c '"$1" ls "$2" | grep -q "a.ram$"' _ "$G" "$M"
check_eq "gmemctl --json ls: valid JSON, 3 entries" 3 \
	"$("$G" --json ls "$M" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check_eq "gmemctl --json stat: the size" 8388608 \
	"$("$G" --json stat "$M/a.ram" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')"
# shellcheck disable=SC2016 # the inner shell expands $1 and $2
check "gmemctl stat: human output" bash -c '"$1" stat "$2" | grep -q "^provider: *shmem-advise"' \
	_ "$G" "$M/a.ram"
check_eq "gmemctl policy get" "4k" "$("$G" policy get "$M/d")"
check "gmemctl policy set" "$G" policy set "$M/d" auto
check_eq "gmemctl policy get after set" "auto" "$("$G" policy get "$M/d")"
check_fails "gmemctl policy set, bad value: the daemon's reason" "is not a page-size policy" \
	"$G" policy set "$M/d" 3k
check_eq "gmemctl --json pool: the budget" "$size" \
	"$("$G" --json pool "$M" | python3 -c 'import json,sys; print(json.load(sys.stdin)["budget"])')"
check_eq "gmemctl --socket with a mount-relative path" "$(gm_info "$M/a.ram" id)" \
	"$("$G" --socket "$SOCK" --json stat a.ram | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
check_fails "gmemctl on a path off any gmemfs mount" "No such file or directory" "$G" ls /proc
check_eq "gmemctl exec: fd 3 is the file's backing" "$GM_STATE/shmem-advise/" \
	"$("$G" exec --fd 3="$M/a.ram" -- readlink /proc/self/fd/3 | sed 's/[0-9a-f]*$//')"
# shellcheck disable=SC2016 # the inner shell expands it
check "gmemctl open-exec: write through fd 5" \
	"$G" open-exec --fd 5="$M/a.ram" -- bash -c 'printf "via fd 5" >&5'
check_eq "reads back through the mount" "via fd 5" "$(head -c 8 "$M/a.ram")"
check "gmemctl exec: a VMM maps /dev/fd/3 (mem-path=/dev/fd/3)" \
	"$G" exec --fd 3="$M/d/b.ram" -- "$GM_BIN/gm-mmap" /dev/fd/3 4M write 7
check "and the pattern is there through the mount" "$GM_BIN/gm-mmap" "$M/d/b.ram" 4M verify 7

# --- a client that stops reading stalls nobody else ---
"$GM_BIN/gm-ctl" "$SOCK" stall >"$GM_TMP/stall.out" 2>&1 &
GM_KIDS+=("$!")
check "a client fills its socket and stops reading" gm_poll 20 grep -q stalled "$GM_TMP/stall.out"
check "meanwhile the mount answers" timeout 10 ls "$M/d"
check "meanwhile another client is served" timeout 10 "${CTL[@]}" info a.ram

gm_done

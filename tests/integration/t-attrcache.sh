#!/bin/bash
#
# t-attrcache: regular files' attributes are cached by the kernel, and what
# changes them still shows at once: an open costs no GETATTR; a change the
# daemon makes on its own (chattr's ctime) is told to the kernel; writes,
# truncates and chmod through the mount show in the next stat; st_blocks
# after page faults through a mapping is exact with stat --cached=never
# and lags a plain stat by at most the attribute timeout (1 s).  The
# passthrough backing id kept between opens never serves a stale backing:
# an emptied file moves to another provider and its data lands there, and
# an unlinked file's memory goes back to the pool though its id was kept.
# Not for: the policy rules themselves (t-pagesize), ACLs (t-acl).
# shellcheck disable=SC2016,SC2119 # inner shells and python expand their own
# arguments; gm_start takes options, never this script's arguments

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

gm_start --pool-size=256M --pagesize=4k || gm_bail "gmemfsd mounts"
M=$GM_MNT
MiB=$((1 << 20))
req() { gm_stats "d[\"requests\"][\"$1\"]"; }
ctime_ns() { python3 -c 'import os, sys; print(os.stat(sys.argv[1]).st_ctime_ns)' "$1"; }
blocks_of() { stat -c %b "$1"; }

# --- an open costs one OPEN (and its RELEASE), no GETATTR ---
dd if=/dev/zero of="$M/f" bs=1M count=1 status=none
stat "$M/f" >/dev/null
g0=$(req getattr)
o0=$(req open)
t0=$SECONDS
for _ in $(seq 300); do : <"$M/f"; done
g1=$(req getattr)
o1=$(req open)
g2=$(req getattr)
check_cond "300 opens reached the daemon as 300 OPENs" "$((o1 - o0)) >= 300"
# One GETATTR per attribute timeout at most, besides the stats reads' own
# (the view is never cached: g2 - g1 is what two reads cost).
check_cond "and at most one GETATTR per second ($((g1 - g0)) in $((SECONDS - t0 + 1)) s)" \
	"$((g1 - g0)) <= $((SECONDS - t0 + 1 + g2 - g1))"

# --- a change the daemon makes on its own shows at once ---
before=$(ctime_ns "$M/f")
check "chattr +d (nodump) through the mount" chattr +d "$M/f"
after=$(ctime_ns "$M/f")
check_cond "chattr's new ctime shows in the next stat ($before -> $after)" "after > before"

# --- changes through the mount show at once ---
stat "$M/f" >/dev/null
printf 'tail' >>"$M/f"
check_eq "an append's size shows at once (passthrough write)" $((MiB + 4)) "$(stat -c %s "$M/f")"
truncate -s 3M "$M/f"
check_eq "a truncate's size shows at once" $((3 * MiB)) "$(stat -c %s "$M/f")"
chmod 600 "$M/f"
check_eq "chmod shows at once" 600 "$(stat -c %a "$M/f")"
ln "$M/f" "$M/f-link"
check_eq "a new link's count shows through the first name" 2 "$(stat -c %h "$M/f")"
rm "$M/f-link"
check_eq "and the unlink's" 1 "$(stat -c %h "$M/f")"

# --- st_blocks after faults through a mapping: the documented lag ---
truncate -s 8M "$M/sparse"
check_eq "a sparse file holds no blocks" 0 "$(blocks_of "$M/sparse")"
check "every page of it touched through a mapping" "$GM_BIN/gm-mmap" "$M/sparse" 8M touch
check_eq "stat --cached=never: exactly 8 MiB of blocks at once" 16384 \
	"$(stat --cached=never -c %b "$M/sparse")"
# shellcheck disable=SC2317 # called through gm_poll
blocks_are() { [[ $(blocks_of "$1") == "$2" ]]; }
check "a plain stat shows them within the 1 s attribute timeout" \
	gm_poll 3 blocks_are "$M/sparse" 16384

# --- the kept passthrough id follows a move, and lets memory go ---
dd if=/dev/urandom of="$GM_TMP/data" bs=1M count=2 status=none
cp "$GM_TMP/data" "$M/mover"
check_eq "a 4k-policy file lives in shmem-4k" shmem-4k "$(gm_stats 'file("/mover")["provider"]')"
truncate -s 0 "$M/mover"
check "its policy changes once it is empty" setfattr -n user.gmemfs.pagesize -v 2m-thp "$M/mover"
check_eq "so it moved to shmem-thp" shmem-thp "$(gm_stats 'file("/mover")["provider"]')"
cp "$GM_TMP/data" "$M/mover"
check "what is written after the move reads back" cmp "$GM_TMP/data" "$M/mover"
check_eq "and is in the new provider's backing" $((2 * MiB)) \
	"$(gm_stats 'file("/mover")["populated"]')"

used0=$(gm_stats 'd["pool"]["used"]')
dd if=/dev/zero of="$M/big" bs=1M count=32 status=none
: <"$M/big"
check_cond "32 MiB written count in the pool" \
	"$(gm_stats 'd["pool"]["used"]') >= used0 + 32 * MiB"
rm "$M/big"
# shellcheck disable=SC2317 # called through gm_poll
used_back() { (($(gm_stats 'd["pool"]["used"]') < used0 + MiB)); }
check "removing it gives its memory back though its backing id was kept" \
	gm_poll 5 used_back
check_no_data_requests

gm_done

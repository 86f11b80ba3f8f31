#!/bin/bash
#
# t-passthrough: the data path never reaches the daemon.  A client maps a
# 64 MiB file, writes and reads every page, then reads and writes it with
# read()/write() and dd; the daemon's own counters (.gmemfs/stats
# requests.read and requests.write) must still be zero, while the counters
# do count the metadata requests the same run made.
# Not for: page sizes or the pool (their own tests).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
# shellcheck disable=SC2119 # started with the default options
gm_start || gm_bail "gmemfsd mounts"
M=$GM_MNT
T=$GM_TMP
F=$M/big
SIZE=$((64 << 20))

check "stats has requests.read and requests.write" \
	gm_stats '"read" in d["requests"] and "write" in d["requests"] or sys.exit(1)'
check_eq "stats says passthrough is on" True "$(gm_stats 'd["passthrough"]')"

# --- every page through a mapping ---
check "mmap: write a pattern to every page of 64 MiB" "$GM_BIN/gm-mmap" "$F" 64M write 101
check_eq "file size is 64 MiB" "$SIZE" "$(stat -c %s "$F")"
check "mmap: every page reads back" "$GM_BIN/gm-mmap" "$F" 64M verify 101
check "read(): every page reads back" "$GM_BIN/gm-mmap" "$F" 64M pverify 101

# --- write() then read back through a mapping ---
check "write(): a new pattern to every page" "$GM_BIN/gm-mmap" "$F" 64M pwrite 202
check "mmap: sees what write() stored" "$GM_BIN/gm-mmap" "$F" 64M verify 202

# --- dd and cat through the mount ---
head -c 8M /dev/urandom >"$T/chunk"
check "dd writes 8 MiB at offset 8 MiB" \
	dd if="$T/chunk" of="$F" bs=1M seek=8 conv=notrunc status=none
check "dd reads it back" cmp <(dd if="$F" bs=1M skip=8 count=8 status=none) "$T/chunk"
check_eq "cat reads the whole file" "$SIZE" "$(wc -c <"$F")"
check_eq "size unchanged by dd" "$SIZE" "$(stat -c %s "$F")"

# --- the daemon served none of it ---
check_no_data_requests
check "daemon counted the other requests it served" \
	gm_stats 'sum(d["requests"].values()) > 0 or sys.exit(1)'

# --- what the daemon and the ioctl say about the file ---
check_eq "ioctl: passthrough flag" 1 "$(gm_info "$F" passthrough)"
check_eq "ioctl: size" "$SIZE" "$(gm_info "$F" size)"
check_eq "ioctl: id is st_ino" "$(stat -c %i "$F")" "$(gm_info "$F" id)"
check_eq "ioctl: populated is the whole file" "$SIZE" "$(gm_info "$F" populated)"
check_eq "stat: st_blocks covers the whole file" "$SIZE" "$(($(stat -c %b "$F") * 512))"
check_eq "stats: file size" "$SIZE" "$(gm_stats 'file("/big")["size"]')"
check_eq "stats: file populated" "$SIZE" "$(gm_stats 'file("/big")["populated"]')"
check_eq "stats: file id is st_ino" "$(stat -c %i "$F")" "$(gm_stats 'file("/big")["id"]')"
check "stats: file closed (open 0)" gm_poll 5 gm_stats_is 'file("/big")["open"]' 0
check_no_data_requests

gm_done

#!/bin/bash
#
# t-guest: a real KVM guest whose RAM is gmemfs memory writes a word to
# every page, and the words are read back through the mount: (a) a shmem
# file mapped through the mount, (b) a hugetlb-2m file's backing fd from
# the control socket (2 MiB pages), (c) a kvm-gmem file attached to the
# guest's own VM over the socket (the guest_memfd made by gm-guest on its
# VM, adopted by the daemon, in a KVM_MEM_GUEST_MEMFD slot).  gm-guest is the VMM, a plain client of
# a real gmemfsd (libgmemfs); the huge pages gmemfsd adds go back at its
# exit.
#
# First-touch figures (never asserted here): GM_GUEST_ROUNDS=N makes
# gm-guest also time N interleaved rounds of the three beside an in-kernel
# guest_memfd, GM_GUEST_MIB the RAM size (default 16), e.g.
#   GMEMFSD=build/daemon/gmemfsd GM_BIN=build/tests/integration \
#     GM_GUEST_ROUNDS=31 GM_GUEST_MIB=64 bash tests/integration/t-guest.sh
# Not for: the providers' own behaviour (t-hugetlb, t-kvmgmem, t-ctl*).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

gm_require_kvm
[[ -w /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages ]] ||
	gm_skip "no 2 MiB hugetlb pages on this kernel"

ROUNDS=${GM_GUEST_ROUNDS:-0}
MIB=${GM_GUEST_MIB:-16}
PAGES=$((MIB / 2))
gm_init
gm_start --pool-size=$((4 * MIB + 64))M --hugepages=2M:$PAGES ||
	gm_bail "gmemfsd mounts with --hugepages=2M:$PAGES"
check_eq "hugetlb-2m got the $PAGES pages it asked for" "True $PAGES" \
	"$(gm_stats 'next("%s %d" % (p["available"], p.get("hugepages_added", 0))
		for p in d["pool"]["providers"] if p["name"] == "hugetlb-2m")')"

timeout $((120 + ROUNDS * MIB / 2)) "$GM_BIN/gm-guest" "$GM_MNT" "$ROUNDS" "$MIB" \
	>"$GM_TMP/guest.out" 2>&1
rc=$?
gm_relay "" "$GM_TMP/guest.out"
check_eq "gm-guest exit status" 0 "$rc"
check_eq "gm-guest ran all three guests and read each back through the mount" 3 \
	"$(grep -c -e '^ok - .*read back through the mount' "$GM_TMP/guest.out")"
check_eq "stats: the daemon served the read-back of the files passthrough cannot serve" True \
	"$(gm_stats 'd["requests"]["read"] > 0')"
check_eq "gm-guest removed its files" "" "$(ls -A "$GM_MNT")"
gm_log_mark
check "SIGTERM stops gmemfsd and unmounts" gm_stop TERM
check_eq "gmemfsd's exit status is 0" 0 "$GM_STOP_STATUS"
# The pool logs this only when the kernel's pool moved back by exactly what
# it added; the knob itself is shared with whatever else runs here.
check_log "the $PAGES huge pages gmemfsd added went back to the kernel" \
	"pool: gave $PAGES hugetlb-2m pages back to the kernel"
gm_done

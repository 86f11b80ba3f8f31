#!/bin/bash
#
# t-guest: a real KVM guest whose RAM is gmemfs memory writes a word to
# every page, and the words are read back through the mount: (a) a shmem
# file mapped through the mount, (b) a hugetlb-2m file's fd from the
# daemon's handout (2 MiB pages), (c) a kvm-gmem file whose guest_memfd the
# daemon created on the guest's VM.  gm-guest is the VMM and, until the
# control socket arrives, also serves the filesystem in-process (see its
# top comment).  The huge pages it adds are given back at its exit.
# Not for: the first-touch figures (gm-guest STATE MNT ROUNDS prints them).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

KNOB=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[[ -c /dev/kvm ]] || gm_skip "/dev/kvm is missing"
[[ -w $KNOB ]] || gm_skip "$KNOB is not writable: no 2 MiB hugetlb pages"

gm_init
before=$(cat "$KNOB")
echo "=== gm-guest $GM_STATE $GM_MNT" >>"$GM_LOG"
out=$(timeout 120 "$GM_BIN/gm-guest" "$GM_STATE" "$GM_MNT" 2>>"$GM_LOG")
rc=$?
while IFS= read -r line; do
	case $line in
	"ok - "*) gm_pass "${line#ok - }" ;;
	"FAIL - "*) gm_fail "${line#FAIL - }" ;;
	*) gm_say "$line" ;;
	esac
done <<<"$out"
check_eq "gm-guest exit status" 0 "$rc"
check_cond "gm-guest ran all three guests" "$(grep -c '^ok - .*read back through the mount' <<<"$out") == 3"
# The pool logs this only when the kernel's pool moved back by exactly what
# it added; the knob itself is shared with whatever else runs here.
check "the 16 huge pages gm-guest added went back to the kernel" \
	grep -q "pool: gave 16 hugetlb-2m pages back to the kernel" "$GM_LOG"
gm_say "nr_hugepages: $before before, $(cat "$KNOB") after"
check "gm-guest unmounted what it mounted" gm_unmounted
gm_done

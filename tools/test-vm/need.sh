#!/usr/bin/env bash
# Run a test where what it needs exists: on this machine when it has all of
# it, else in the test guest (run.sh: Linux 7.3 under qemu TCG with nested
# SVM), which has all of it.  The test's assertions are the same either
# way; the first line says where it ran and why.  A test that exits 77
# (skipped) where its needs are met is turned into a failure: no machine of
# ours may skip it.
#
# usage: need.sh [--kvm] [--hugetlb-1g] [--rwp] [--timeout SECONDS] [--mem SIZE] -- CMD [ARG...]
#   --kvm         /dev/kvm that opens read-write
#   --rwp         a kernel with userfaultfd RWP and PAGEMAP_SCAN's
#                 PAGE_IS_ACCESSED (Linux 7.2+): recording a working set
#   --hugetlb-1g  the kernel gives a 1 GiB huge page now (see can_add_1g)
#   --timeout, --mem: passed to run.sh for a guest run
# GM_TEST_VM=always runs the test in the guest even where the machine has
# what it needs (to check the guest path on such a machine); =never fails
# instead of booting a guest.
#
# Not for: tests that need no more than any machine of ours has.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
needs=() vm_args=()
while (($#)); do
	case $1 in
	--kvm | --hugetlb-1g | --rwp) needs+=("${1#--}"); shift ;;
	--timeout | --mem) vm_args+=("$1" "$2"); shift 2 ;;
	--) shift; break ;;
	*) echo "need.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
done
(($#)) || { echo "usage: need.sh [--kvm] [--hugetlb-1g] -- CMD [ARG...]" >&2; exit 2; }

# missing NEED: why this machine cannot give NEED (nothing if it can).
missing() {
	case $1 in
	kvm)
		[[ -c /dev/kvm ]] || { echo "/dev/kvm is missing"; return; }
		(exec 3<>/dev/kvm) 2>/dev/null || echo "/dev/kvm does not open"
		;;
	hugetlb-1g)
		[[ -d $HUGE_1G ]] || { echo "the kernel offers no 1 GiB huge pages"; return; }
		can_add_1g || echo "the kernel offers 1 GiB huge pages but cannot give one now" \
			"(memory too fragmented)"
		;;
	rwp)
		kernel_at_least 7 2 || echo "the kernel ($(uname -r)) has no userfaultfd RWP (7.2+)"
		;;
	esac
}

# kernel_at_least MAJOR MINOR: the running kernel is that release or newer.
kernel_at_least() {
	local major minor
	IFS=. read -r major minor _ <<<"$(uname -r)"
	((major > $1 || (major == $1 && ${minor%%[^0-9]*} >= $2)))
}

# can_add_1g: the tests add the 1 GiB pages they use to the kernel's pool
# (gmemfsd --hugepages), and a long-running machine's memory is often too
# fragmented for a new one even where the size is offered.  Ask for one
# more page, then put the count back to what it was: success only if the
# kernel gave it.
HUGE_1G=/sys/kernel/mm/hugepages/hugepages-1048576kB
can_add_1g() {
	local knob=$HUGE_1G/nr_hugepages before after
	before=$(<"$knob") || return 1
	echo $((before + 1)) >"$knob" 2>/dev/null || return 1
	after=$(<"$knob")
	echo "$before" >"$knob" || echo "need.sh: cannot put $knob back to $before" >&2
	((after == before + 1))
}

lacks=()
for n in "${needs[@]}"; do
	why=$(missing "$n")
	[[ -z $why ]] || lacks+=("$why")
done
case ${GM_TEST_VM:-} in
always) lacks+=("GM_TEST_VM=always") ;;
never) ((${#lacks[@]} == 0)) || {
	echo "FAIL: this machine lacks what the test needs (${lacks[*]}) and GM_TEST_VM=never"
	exit 1
} ;;
esac

rc=0
if ((${#lacks[@]} == 0)); then
	echo "# runs on this machine: it has what the test needs (${needs[*]:-nothing})"
	"$@" || rc=$?
else
	joined=$(printf '%s; ' "${lacks[@]}")
	echo "# runs in the test guest (Linux 7.3 under qemu TCG; figures are TCG's): ${joined%; }"
	"$here/run.sh" "${vm_args[@]}" -- "$@" || rc=$?
fi
if ((rc == 77)); then
	echo "FAIL: the test skipped (exit 77) where everything it needs (${needs[*]:-nothing}) is there"
	exit 1
fi
exit "$rc"

#!/usr/bin/env bash
# Run a test where what it needs exists: on this machine when it has all of
# it, else in the test guest (run.sh: Linux 7.3 under qemu TCG with nested
# SVM), which has all of it.  The test's assertions are the same either
# way; the first line says where it ran and why.  A test that exits 77
# (skipped) where its needs are met is turned into a failure: no machine of
# ours may skip it.
#
# usage: need.sh [--kvm] [--hugetlb-1g] [--timeout SECONDS] [--mem SIZE] -- CMD [ARG...]
#   --kvm         /dev/kvm that opens read-write
#   --hugetlb-1g  the kernel offers 1 GiB huge pages
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
	--kvm | --hugetlb-1g) needs+=("${1#--}"); shift ;;
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
		[[ -d /sys/kernel/mm/hugepages/hugepages-1048576kB ]] ||
			echo "the kernel offers no 1 GiB huge pages"
		;;
	esac
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

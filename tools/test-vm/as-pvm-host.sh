#!/usr/bin/env bash
# Run a command as on one of our machines that is itself a PVM guest: no
# /dev/kvm and no 1 GiB huge pages.  For checking, on a machine that has
# both, that the suite and the benchmarks still pass and test everything
# there (make check-as-pvm-host; the closing notes' "without /dev/kvm" run).
#
# The command runs in a private mount namespace in which /dev is a copy of
# the machine's /dev without kvm (its submounts, /dev/pts, /dev/shm,
# /dev/hugepages and the like, bound in again), and
# /sys/kernel/mm/hugepages shows only the 2 MiB size.  Nothing outside the
# namespace changes, and it goes away with the command.
#
# usage: as-pvm-host.sh CMD [ARG...]
# Not for: tests (they must never depend on how the machine is dressed up).
set -euo pipefail

[[ $# -gt 0 ]] || { echo "usage: $0 CMD [ARG...]" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "as-pvm-host: needs root (mount namespace)" >&2; exit 2; }

if [[ -z ${GM_AS_PVM_INNER:-} ]]; then
	export GM_AS_PVM_INNER=1
	exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
fi
unset GM_AS_PVM_INNER

# Submounts of /dev, as paths below it (mountinfo field 5, escapes undone).
dev_submounts() {
	awk '$5 ~ /^\/dev\// { print substr($5, 6) }' /proc/self/mountinfo |
		sed 's/\\040/ /g; s/\\011/\t/g; s/\\134/\\/g' | sort -u
}

dev=$(mktemp -d /tmp/gm-pvm-dev.XXXXXX)
mount -t tmpfs -o mode=0755,size=4m gm-pvm-dev "$dev"
cp -ax /dev/. "$dev/"
rm -f -- "$dev/kvm"
while IFS= read -r m; do
	mkdir -p -- "$dev/$m"
	mount --rbind -- "/dev/$m" "$dev/$m"
done < <(dev_submounts)
mount --move "$dev" /dev
rmdir -- "$dev"

hp=/sys/kernel/mm/hugepages
if [[ -d $hp/hugepages-1048576kB ]]; then
	view=$(mktemp -d /tmp/gm-pvm-hp.XXXXXX)
	mount -t tmpfs -o mode=0755,size=64k gm-pvm-hp "$view"
	for d in "$hp"/hugepages-*; do
		[[ ${d##*/} == hugepages-1048576kB ]] && continue
		mkdir -- "$view/${d##*/}"
		mount --bind -- "$d" "$view/${d##*/}"
	done
	mount --move "$view" "$hp"
	rmdir -- "$view"
fi
sizes=("$hp"/hugepages-*)
echo "as-pvm-host: /dev/kvm hidden, hugepage sizes: ${sizes[*]##*/}" >&2
exec "$@"

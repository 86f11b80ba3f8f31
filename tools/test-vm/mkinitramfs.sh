#!/usr/bin/env bash
# Build the test guest's initramfs for one kernel: busybox-static with its
# applets, tools/test-vm/init as /init, and the modules the root needs
# before it is mounted (virtio, 9p, overlay: whatever of them the kernel
# builds as modules, with their dependencies, decompressed, in load order).
# The same for every job: the job and stage 2 come from the host's tree.
#
# usage: mkinitramfs.sh OUT.cpio.gz KERNEL-ENV   (KERNEL-ENV: kernel-cache.sh's kernel.env)
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
out=$1
# shellcheck source=/dev/null
source "$2"

stage=$(mktemp -d "${out}.stage.XXXXXX")
trap 'rm -rf -- "$stage"' EXIT

declare -A dep=() path=() added=()
# modules.dep: "kernel/PATH.ko[.xz]: DEP DEP ..." (paths relative to the tree).
while IFS=: read -r m deps; do
	dep[$m]=$deps
	n=${m##*/}
	n=${n%.xz}
	path[${n%.ko}]=$m
done <"$TVM_MODDIR/modules.dep"

# add PATH: its dependencies first, then it.
add() {
	local m=$1 d
	[[ -n ${added[$m]:-} ]] && return
	added[$m]=1
	for d in ${dep[$m]}; do
		add "$d"
	done
	local name
	name=$(basename -- "${m%.xz}")
	if [[ $m == *.xz ]]; then
		xz -dc -- "$TVM_MODDIR/$m" >"$stage/modules/$name"
	else
		cp -- "$TVM_MODDIR/$m" "$stage/modules/$name"
	fi
	echo "$name" >>"$stage/modules/order"
}

mkdir -p -- "$stage"/{bin,sbin,proc,sys,dev,modules}
: >"$stage/modules/order"
for want in virtio_pci 9pnet_virtio 9p overlay; do
	if [[ -n ${path[$want]:-} ]]; then
		add "${path[$want]}"
	fi	# else built in
done
cp -- /bin/busybox "$stage/bin/busybox"
while read -r app; do
	[[ -e $stage/$app ]] && continue
	mkdir -p -- "$stage/$(dirname -- "$app")"
	ln -s /bin/busybox "$stage/$app"
done < <(/bin/busybox --list-full)
install -m 0755 -- "$here/init" "$stage/init"

(cd -- "$stage" && find . | LC_ALL=C sort |
	/bin/busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out.tmp"
mv -f -- "$out.tmp" "$out"

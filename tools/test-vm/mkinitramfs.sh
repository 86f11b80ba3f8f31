#!/usr/bin/env bash
# Build the shim test guest's initramfs: busybox-static with its applets,
# tools/shim-vm/init as /init, the module under /lib/modules/RELEASE/extra
# beside the kernel's own fuse.ko (for gmemfsd), and the given programs in
# /bin with the shared libraries they load.
#
# usage: mkinitramfs.sh OUT.cpio.gz KERNEL-ROOT RELEASE MODULE.ko PROGRAM...
# (KERNEL-ROOT: where kernel-cache.sh unpacked the image package)
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
out=$1 kroot=$2 rel=$3 ko=$4
shift 4

stage=$(mktemp -d "${out}.stage.XXXXXX")
trap 'rm -rf -- "$stage"' EXIT

mkdir -p -- "$stage"/{bin,sbin,proc,sys,dev,tmp,etc,run,mnt} "$stage/lib/modules/$rel/extra"
cp -- /bin/busybox "$stage/bin/busybox"
while read -r app; do
	[[ -e $stage/$app ]] && continue
	mkdir -p -- "$stage/$(dirname -- "$app")"
	ln -s /bin/busybox "$stage/$app"
done < <(/bin/busybox --list-full)
install -m 0755 -- "$here/init" "$stage/init"
install -m 0644 -- "$ko" "$stage/lib/modules/$rel/extra/"
fuse_ko=$(find "$kroot/lib/modules/$rel/kernel/fs/fuse" -name 'fuse.ko*' | head -n 1)
[[ -n $fuse_ko ]] || { echo "mkinitramfs: no fuse.ko for $rel" >&2; exit 1; }
mkdir -p -- "$stage/lib/modules/$rel/kernel/fs/fuse"
cp -- "$fuse_ko" "$stage/lib/modules/$rel/kernel/fs/fuse/"

# Each program and every library ldd resolves for it, at the same path.
for prog in "$@"; do
	install -m 0755 -- "$prog" "$stage/bin/"
	while read -r lib; do
		[[ -e $stage$lib ]] && continue
		mkdir -p -- "$stage$(dirname -- "$lib")"
		cp -L -- "$lib" "$stage$lib"
	done < <(ldd "$prog" | grep -o '/[^ ]*' | sort -u)
done

(cd -- "$stage" && find . | LC_ALL=C sort |
	/bin/busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out"

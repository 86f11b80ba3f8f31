#!/usr/bin/env bash
# Build the shim (Kbuild, shim/, uapi/) against one of the test guest's
# kernels with -Werror, from a copy of the sources so that kbuild's output
# stays out of the tree and apart per build.  A kernel whose kernels.conf
# line says "trixie" is built in the trixie build root (its gcc-14 and its
# kbuild tools, which need glibc 2.38), chrooted in a private mount
# namespace with its own /proc (objtool reads /proc/self/maps).  Any
# compiler warning fails the build, as -Werror would, and so does one from
# kbuild itself (BTF generation skipped for want of vmlinux excepted).
#
# usage: build-shim.sh KERNEL OUTDIR     writes OUTDIR/gmemfs.ko and OUTDIR/kbuild.log
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
kernel=${1:?usage: build-shim.sh KERNEL OUTDIR}
out=${2:?usage: build-shim.sh KERNEL OUTDIR}
src=""
trap '[[ -z $src ]] || rm -rf -- "$src"' EXIT

fail() { printf 'build-shim: %s\n' "$*"; exit 1; }

if ! "$here/kernel-cache.sh" --check "$kernel"; then
	"$here/kernel-cache.sh" "$kernel" || fail "no kernel '$kernel' in the cache, and fetching it failed"
fi
# shellcheck source=/dev/null
source "$repo/.cache/test-vm/$kernel/kernel.env"

mkdir -p -- "$out"
out=$(realpath -- "$out")
rm -f -- "$out/gmemfs.ko"
src=$(mktemp -d "$TVM_BUILDROOT/tmp/shim-build.XXXXXX")
cp -r -- "$repo/Kbuild" "$repo/shim" "$repo/uapi" "$src/"
kbuild=(make -C "$TVM_KDIR" M="${src#"$TVM_BUILDROOT"}" KCFLAGS=-Werror modules)
rc=0
if [[ -z $TVM_BUILDROOT ]]; then
	"${kbuild[@]}" >"$out/kbuild.log" 2>&1 || rc=$?
else
	# shellcheck disable=SC2016 # the inner shell expands them
	unshare --mount --propagation private -- sh -c \
		'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' \
		sh "$TVM_BUILDROOT" "$TVM_BUILDROOT" "${kbuild[@]}" >"$out/kbuild.log" 2>&1 || rc=$?
fi
if ((rc != 0)); then
	cat -- "$out/kbuild.log"
	fail "the shim does not build against $TVM_RELEASE"
fi
if grep -i 'warning' "$out/kbuild.log" | grep -v 'Skipping BTF generation'; then
	fail "the shim's build against $TVM_RELEASE warns"
fi
cp -- "$src/gmemfs.ko" "$out/gmemfs.ko"
echo "build-shim: gmemfs.ko built against linux-headers-$TVM_RELEASE with -Werror"

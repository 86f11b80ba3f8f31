#!/usr/bin/env bash
# The host side of the shim tests (meson test 'shim module in a qemu
# guest'): build the module from a copy of the sources against the cached
# Debian 6.1 headers with -Werror, pack an initramfs with it and the test
# program, boot the cached 6.1 kernel under qemu -accel tcg, and pass only
# if the guest's tests all passed, the kernel complained about nothing
# (oops, warning: it panics and powers off at once) and the boot finished
# within the time limit.
#
# usage: run-tests.sh SRCDIR WORKDIR PROGRAM...  (the first is run)
set -euo pipefail

src=$1 work=$2
shift 2
cache=$src/.cache/shim-vm
limit=${SHIM_VM_TIMEOUT:-400}	# seconds for boot + tests + poweroff
smp=${SHIM_VM_SMP:-2}		# vCPUs; 1 shows wakeup costs without IPIs
# NAME=VALUE words for the guest's environment: the kernel hands command
# line words it does not know, with an =, to init (sanitizer options).
guest_env=${SHIM_VM_ENV:-}

skip() { printf 'SKIP: %s (tools/install-deps.sh installs it)\n' "$*"; exit 77; }
fail() { printf 'FAIL: %s\n' "$*"; exit 1; }

"$src/tools/shim-vm/kernel-cache.sh" --check || skip "no complete guest kernel in $cache"
rel=$(cat -- "$cache/release")
kdir=$cache/root/usr/src/linux-headers-$rel
vmlinuz=$cache/root/boot/vmlinuz-$rel
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is missing"
[[ -x /bin/busybox ]] || skip "busybox-static is missing"

rm -rf -- "$work"
mkdir -p -- "$work/kbuild"
# A copy keeps kbuild's output out of the source tree and apart per build.
cp -r -- "$src/Kbuild" "$src/shim" "$src/uapi" "$work/kbuild/"
if ! make -C "$kdir" M="$work/kbuild" KCFLAGS=-Werror modules >"$work/kbuild.log" 2>&1; then
	cat -- "$work/kbuild.log"
	fail "the module does not build against $rel"
fi
if grep -i 'warning' "$work/kbuild.log" | grep -v 'Skipping BTF generation'; then
	fail "the module build warns"
fi
echo "built gmemfs.ko against linux-headers-$rel"

"$src/tools/shim-vm/mkinitramfs.sh" "$work/initramfs.cpio.gz" "$cache/root" "$rel" \
	"$work/kbuild/gmemfs.ko" "$@"

# oops=panic and panic_on_warn: a module bug ends the boot at once, and
# panic=-1 with -no-reboot turns that into qemu exiting.
# qemu_pid is timeout's: TERM reaches qemu through it (KILL would orphan qemu).
qemu_pid=""
trap '[[ -z $qemu_pid ]] || kill -TERM "$qemu_pid" 2>/dev/null || true' EXIT
timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg -m 1024 -smp "$smp" \
	-nodefaults -display none -no-reboot \
	-serial "file:$work/console.log" \
	-kernel "$vmlinuz" -initrd "$work/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 oops=panic panic_on_warn=1 loglevel=4 quiet $guest_env" &
qemu_pid=$!
rc=0
wait "$qemu_pid" || rc=$?
qemu_pid=""
tr -d '\r' <"$work/console.log"
[[ $rc -ne 124 && $rc -ne 137 ]] || fail "the guest did not finish within $limit s"
[[ $rc -eq 0 ]] || fail "qemu exited $rc"
log=$(tr -d '\r' <"$work/console.log")
grep -q '^shim-vm: done' <<<"$log" || fail "the guest did not finish its tests (panic?)"
grep -q '^dmesg: ' <<<"$log" && fail "the guest kernel complained (dmesg lines above)"
summary=$(grep -E '^shim tests: [0-9]+ passed, [0-9]+ failed' <<<"$log" | tail -n 1)
[[ -n $summary ]] || fail "no test summary from the guest"
echo "guest: $summary"
grep -q ', 0 failed$' <<<"$summary" || fail "guest tests failed"

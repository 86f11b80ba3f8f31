#!/usr/bin/env bash
# Run one command in the test guest: a Debian kernel from kernels.conf
# booted under qemu -accel tcg with nested SVM (so it has /dev/kvm), 1 GiB
# huge pages and module loading, running this machine's own userspace: the
# host's root is its root, read-only over 9p under a tmpfs overlay.  So the
# command, its build tree and its environment are the caller's; only the
# kernel differs.  Its output, and its exit status, are the command's.
#
# usage: run.sh [--kernel NAME] [--module KO] [--mem SIZE] [--smp N]
#               [--timeout SECONDS] [--workdir DIR] -- CMD [ARG...]
#   --kernel   a NAME of kernels.conf (default 7.3)
#   --module   the shim built for that kernel (build-shim.sh): placed in the
#              guest's module tree, so that modprobe and the kernel's
#              netlink autoload find it
#   --mem      guest RAM (default 4G); --smp vCPUs (default 2)
#   --timeout  boot, command and power-off, in seconds (default 900)
#   --workdir  where the job file and the console log go (default: a new
#              directory under /tmp, removed at exit)
#   --no-carveout  boot without the shim's carve-out (below)
#
# Every boot keeps 256 MiB at 2 GiB out of System RAM and out of the
# kernel's direct map (memmap=256M$0x80000000) and names that range to the
# shim (gmemfs.carveout=256M@0x80000000, which modprobe takes from
# /proc/cmdline): the carve-out secret shim files come from.  It sits below
# qemu's 3 GiB PCI hole, apart from the gigabyte hugetlb_cma= takes.
#
# The guest's kernel panics on an oops or a warning, and any BUG/WARNING
# line in its log fails the run (exit 1), whatever the command said.  A
# guest that does not finish in time is killed (exit 1).  The last line is
# "test-vm: Linux RELEASE (TCG) ran CMD in N s, exit N".
#
# Not for: deciding whether a test needs the guest (need.sh does).
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
cache=$repo/.cache/test-vm

kernel=7.3 module="" mem=4G smp=2 limit=900 work="" own_work="" carve=1
while (($#)); do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--module) module=$(realpath -- "$2"); shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--timeout) limit=$2; shift 2 ;;
	--workdir) work=$2; shift 2 ;;
	--no-carveout) carve=0; shift ;;
	--) shift; break ;;
	*) echo "run.sh: unknown option '$1' (see the header of $0)" >&2; exit 2 ;;
	esac
done
(($#)) || { echo "usage: run.sh [options] -- CMD [ARG...]" >&2; exit 2; }

fail() { printf 'test-vm: FAIL: %s\n' "$*"; exit 1; }

qemu_pid="" scratch=""
# shellcheck disable=SC2317 # the EXIT trap calls it
cleanup() {
	[[ -z $qemu_pid ]] || kill -TERM "$qemu_pid" 2>/dev/null || true
	[[ -z $scratch ]] || rm -f -- "$scratch"
	[[ -z $own_work ]] || rm -rf -- "$own_work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $EUID -eq 0 ]] || fail "needs root (qemu's 9p export of / as root)"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is missing (tools/install-deps.sh installs it)"
[[ -x /bin/busybox ]] || fail "/bin/busybox is missing (tools/install-deps.sh installs busybox-static)"
if ! "$here/kernel-cache.sh" --check "$kernel"; then
	"$here/kernel-cache.sh" "$kernel" || fail "no kernel '$kernel' in the cache, and fetching it failed"
fi
# shellcheck source=/dev/null
source "$cache/$kernel/kernel.env"

# The initramfs is the same for every job of a kernel: rebuilt only when
# its inputs change.
initrd=$cache/$kernel/initramfs.cpio.gz
if [[ ! -f $initrd || $here/init -nt $initrd || $here/mkinitramfs.sh -nt $initrd ||
	$cache/$kernel/kernel.env -nt $initrd ]]; then
	"$here/mkinitramfs.sh" "$initrd" "$cache/$kernel/kernel.env"
fi

if [[ -z $work ]]; then
	work=$(mktemp -d /tmp/test-vm.XXXXXX)
	own_work=$work
fi
mkdir -p -- "$work"
work=$(realpath -- "$work")

# A scratch disk, mounted in the guest at $TVM_SCRATCH (stage2.sh): ext4
# on a sparse image.  The guest's root is a tmpfs overlay, whose pages no
# fadvise can drop; a job that must read a file cold (gm-snapbench's cold
# rows) needs a block device's page cache.
scratch=$work/scratch.img
truncate -s 16G -- "$scratch" || fail "cannot make the scratch image $scratch"
mkfs.ext4 -q -F -O ^has_journal -L tvm-scratch -- "$scratch" || fail "mkfs.ext4 of the scratch image failed"

# The job: the caller's directory, exported environment and command.  The
# guest's bash runs it as root, as the caller is.
write_job() {
	local v
	echo "# written by tools/test-vm/run.sh"
	for v in $(compgen -e); do
		case $v in
		BASH* | SHLVL | PWD | OLDPWD | _ | HOSTNAME | TERM | SHELLOPTS | TVM_SCRATCH) continue ;;
		esac
		printf 'export %s=%q\n' "$v" "${!v}"
	done
	printf 'export TEST_VM=%q\n' "Linux $TVM_RELEASE"
	printf 'cd -- %q || exit 1\n' "$PWD"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
}
write_job "$@" >"$work/job.sh"

what=$(printf '%q ' "$@")
what=${what% }
((${#what} <= 160)) || what="${what:0:157}..."
echo "test-vm: booting Linux $TVM_RELEASE under qemu TCG (nested SVM, $mem, $smp vCPUs) for: $what"
start=$(date +%s)
# oops=panic and panic_on_warn: a kernel bug ends the boot at once, and
# panic=-1 with -no-reboot turns that into qemu exiting.  The 1 GiB page
# size exists on EPYC-Rome (pdpe1gb); pages of it are made at run time,
# as gmemfsd's --hugepages=1G:N asks, from a CMA area kept for one
# (hugetlb_cma=1G): without it, a 1 GiB run of free memory was sometimes
# not to be had in a 4 GiB guest, and a 2 GiB area does not fit below its
# PCI hole.  Movable pages use the area meanwhile.  nokaslr: with the
# kernel at a random physical address, the area found no 1 GiB-aligned
# gigabyte free at boot in 4 of 8 boots ("cma: Failed to reserve 1024
# MiB"); at its fixed address, in none of 8.
# thread=single: one host thread runs the vCPUs in turn.  With one thread
# per vCPU (MTTCG), qemu 7.2 let a vCPU run code the other was patching
# (a jump label's int3 seen after text_poke_bp had finished: an Oops in
# __schedule during t-lazy on 7.3).
# The carve-out: the header says why.  qemu hands -append to the kernel
# as it is, so the '$' of memmap= only needs escaping from this shell.
carveout=""
((carve)) && carveout="memmap=256M\$0x80000000 gmemfs.carveout=256M@0x80000000"
# qemu_pid is timeout's: TERM reaches qemu through it.
timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg,thread=single -cpu EPYC-Rome,+svm,+npt \
	-m "$mem" -smp "$smp" -nodefaults -display none -no-reboot \
	-serial "file:$work/console.log" 2>"$work/qemu.log" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-drive "file=$scratch,if=virtio,format=raw,cache=unsafe" \
	-kernel "$TVM_VMLINUZ" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 oops=panic panic_on_warn=1 loglevel=4 quiet nokaslr hugetlb_cma=1G
		$carveout
		tvm.stage2=$here/stage2.sh tvm.job=$work/job.sh tvm.moddir=$TVM_MODDIR
		${module:+tvm.module=$module}" &
qemu_pid=$!
rc=0
wait "$qemu_pid" || rc=$?
qemu_pid=""
secs=$(($(date +%s) - start))
log=$(tr -d '\r' <"$work/console.log")
printf '%s\n' "$log"
# qemu's own complaints (TCG lacks CPUID bits EPYC-Rome names) only matter
# when it failed.
[[ $rc -eq 0 ]] || cat -- "$work/qemu.log"
[[ $rc -ne 124 && $rc -ne 137 ]] || fail "the guest did not finish within $limit s"
[[ $rc -eq 0 ]] || fail "qemu exited $rc"
grep -q '^dmesg: ' <<<"$log" && fail "the guest kernel complained (dmesg lines above)"
status=$(sed -n 's/^test-vm: exit \([0-9]*\)$/\1/p' <<<"$log" | tail -n 1)
[[ -n $status ]] || fail "the guest did not finish its job (a panic, or stage 1 or 2 failed: see above)"
echo "test-vm: Linux $TVM_RELEASE (TCG) ran $what in $secs s, exit $status"
exit "$status"

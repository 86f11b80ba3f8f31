#!/bin/bash
# Stage 2 of the test guest, PID 1 after init's switch_root: the host's own
# userspace (its root over 9p, read-only, under a tmpfs overlay), the
# guest's kernel.  Sets up what jobs expect of a machine (devpts, /dev/shm,
# a tmpfs /tmp, the kernel's module tree with the shim beside it, KVM,
# the scratch disk at $TVM_SCRATCH),
# runs the job run.sh wrote, reports, and powers off.  /tmp stays the
# overlay's (the host's /tmp, writable in the guest only): job files, and
# a build tree under /tmp, must be seen there.  The host reads the
# serial console: the job's output, then "test-vm: exit N" and any kernel
# complaint as "dmesg: " lines.
#
# Kernel command line: tvm.job=FILE (a bash script on the host, required),
# tvm.moddir=DIR (the kernel's unpacked module tree on the host),
# tvm.module=KO (the shim, optional).
# Not for: running by hand (PID 1 only).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
bb=/bin/busybox

say() { echo "test-vm: $*"; }

off() {
	sync
	"$bb" poweroff -f
	sleep 10
}

job="" moddir="" module=""
for w in $(</proc/cmdline); do
	case $w in
	tvm.job=*) job=${w#tvm.job=} ;;
	tvm.moddir=*) moddir=${w#tvm.moddir=} ;;
	tvm.module=*) module=${w#tvm.module=} ;;
	esac
done
rel=$(uname -r)

# run.sh's scratch disk (the only virtio disk: vda), for files that must
# live in a real page cache; the driver probes it asynchronously.
scratch_mount() {
	local i
	modprobe virtio_blk && modprobe ext4 || return 1
	for ((i = 0; i < 100; i++)); do
		[[ -b /dev/vda ]] && break
		sleep 0.05
	done
	mkdir -p /run/test-vm/scratch
	mount -t ext4 /dev/vda /run/test-vm/scratch || return 1
	chmod 1777 /run/test-vm/scratch
	export TVM_SCRATCH=/run/test-vm/scratch
}

setup() {
	# What udev would make: devtmpfs has none of these links.
	ln -sfn /proc/self/fd /dev/fd
	ln -sfn /proc/self/fd/0 /dev/stdin
	ln -sfn /proc/self/fd/1 /dev/stdout
	ln -sfn /proc/self/fd/2 /dev/stderr
	mkdir -p /dev/pts /dev/shm /dev/hugepages
	mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts || return 1
	mount -t tmpfs -o mode=1777 shm /dev/shm || return 1
	mount -t hugetlbfs hugetlbfs /dev/hugepages || return 1
	[[ -d $moddir ]] || { say "no module tree '$moddir'"; return 1; }
	mkdir -p "/lib/modules/$rel" /run/test-vm/mod/upper /run/test-vm/mod/work
	mount -t overlay -o "lowerdir=$moddir,upperdir=/run/test-vm/mod/upper,workdir=/run/test-vm/mod/work" \
		modules "/lib/modules/$rel" || return 1
	if [[ -n $module ]]; then
		mkdir -p "/lib/modules/$rel/extra"
		cp -- "$module" "/lib/modules/$rel/extra/" || return 1
		depmod -a "$rel" || return 1
	fi
	# fuse is a module on 6.1 and built in on 7.3; KVM is wanted by every
	# job that runs a guest.  Whether it loaded is said, and a job that
	# needs it fails on its own if it did not.
	modprobe fuse || return 1
	modprobe kvm_amd 2>&1 || say "kvm_amd did not load"
	scratch_mount || return 1
	hostname test-vm
}

if ! setup; then
	say "stage 2 setup failed"
	off
fi
say "booted Linux $rel, $(nproc) cpus, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)," \
	"/dev/kvm $([[ -c /dev/kvm ]] && echo present || echo absent)," \
	"1 GiB pages $(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages 2>/dev/null || echo none)"
rc=1
if [[ -f $job ]]; then
	bash "$job" </dev/null 2>&1
	rc=$?
else
	say "no job file '$job'"
fi
# Anything that means a kernel bug fails the run (oopses and warnings
# already panic: oops=panic panic_on_warn).
dmesg | grep -E 'BUG:|WARNING: CPU|Oops|Call Trace|general protection' | sed 's/^/dmesg: /'
say "exit $rc"
off

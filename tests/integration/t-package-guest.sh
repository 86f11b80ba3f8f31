#!/bin/bash
#
# t-package-guest: the second half of t-package.sh, run by it in the test
# guest (Linux 6.1, tools/test-vm/run.sh), whose root is this machine's
# under a tmpfs overlay: what dpkg installs and purges here never reaches
# the machine.  Installs the four packages from GM_PKG_DEBS with dpkg, runs
# what they installed (gmemfsd mounts, gmemctl asks its pool, a program
# builds against libgmemfs with pkg-config alone and works, the module DKMS
# built for the guest's kernel loads), purges them and checks that nothing
# is left: no file, no dpkg status, nothing in the DKMS tree.
# GM_PKG_KDIR: the guest kernel's headers (.cache), where DKMS looks.
# Not for: running on its own (meson runs t-package.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

debs=${GM_PKG_DEBS:-}
kdir=${GM_PKG_KDIR:-}
pkgs=(gmemfs libgmemfs0 libgmemfs-dev gmemfs-dkms)
rel=$(uname -r)
[[ -d $debs && -d $kdir ]] || gm_bail "GM_PKG_DEBS and GM_PKG_KDIR name the packages and the headers"
[[ -n ${TEST_VM:-} ]] || gm_bail "runs only in the test guest (it installs packages)"
# meson points LD_LIBRARY_PATH at the build's libgmemfs: the installed
# programs must find the installed one.
unset LD_LIBRARY_PATH

# What our packages may leave, found by name where they install.
leftovers() {
	find /etc /var/lib/dkms /usr/src /usr/sbin /usr/bin /usr/include \
		/usr/lib/x86_64-linux-gnu /usr/share/doc /usr/share/man \
		/usr/share/bash-completion /usr/lib/systemd/system "/lib/modules/$rel" \
		\( -name '*gmemfs*' -o -name 'gmemctl*' \) 2>/dev/null | sort
}

# Our packages dpkg knows in any state but "not installed".
known_packages() {
	dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null |
		awk '$2 != "un"'
}

# Should this machine have them installed, the guest's copy of its root
# starts without them.
if [[ -n $(known_packages) ]]; then
	gm_say "this machine has gmemfs packages installed; purging them in the guest only"
	dpkg --purge "${pkgs[@]}" >"$GM_TMP/prepurge.log" 2>&1
fi
before=$(leftovers)

# The module tree's build link names /usr/src, which the guest lacks: the
# headers are in .cache.  The link is in the guest's overlay only.
ln -sfn "$kdir" "/lib/modules/$rel/build"

# The README's Install line, as written, from a directory whose parent
# holds the packages (dpkg-buildpackage writes them beside the tree).
install=$(gm_readme_cmd "dpkg -i ")
[[ -n $install ]] || gm_bail "README.md's Install block has no dpkg -i line"
if ! mkdir -p "$GM_TMP/debs/top" || ! ln -s "$debs"/*.deb "$GM_TMP/debs/"; then
	gm_bail "the packages beside a top directory"
fi
# shellcheck disable=SC2317 # called through check
readme_install() { cd "$GM_TMP/debs/top" && eval "$install"; }
t0=$SECONDS
check "README: $install" readme_install
check "dpkg installs the other two (DKMS builds gmemfs.ko in postinst)" \
	dpkg -i "$debs"/libgmemfs-dev_*.deb "$debs"/gmemfs-dkms_*.deb
gm_say "dpkg -i took $((SECONDS - t0)) s (TCG)"
version=$(dpkg-query -W -f='${Version}' gmemfs 2>/dev/null)
check_eq "gmemfsd --version says the package's version" "gmemfsd $version" \
	"$(/usr/sbin/gmemfsd --version 2>&1 | grep '^gmemfsd ')"

check_eq "dkms status: the module is built and installed for the guest's kernel" \
	"gmemfs/$version, $rel, x86_64: installed" "$(dkms status -m gmemfs 2>&1)"
check "the module DKMS built loads" modprobe gmemfs
check "and is there" test -d /sys/module/gmemfs
check "and unloads" modprobe -r gmemfs

GMEMFSD=/usr/sbin/gmemfsd
gm_start --pool-size=64M || gm_bail "the installed gmemfsd mounts"
check_eq "the installed gmemctl reads the pool over the control socket" 67108864 \
	"$(/usr/bin/gmemctl --json pool "$GM_MNT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["budget"])')"

# The installed .pc alone, and the installed library at run time.
truncate -s 1M "$GM_MNT/vm.ram"
# shellcheck disable=SC2046 # pkg-config's output is words
check "a program builds against the installed libgmemfs with pkg-config" \
	env -u PKG_CONFIG_PATH cc -o "$GM_TMP/vmm" "$GM_SRC/gm-vmm-open.c" \
	$(env -u PKG_CONFIG_PATH pkg-config --cflags --libs gmemfs)
check "it loads the installed libgmemfs.so.0" \
	grep -q ' /lib/x86_64-linux-gnu/libgmemfs.so.0 \| /usr/lib/x86_64-linux-gnu/libgmemfs.so.0 ' \
	<(ldd "$GM_TMP/vmm")
check "and maps a file's backing through the control socket" \
	"$GM_TMP/vmm" "$GM_MNT/vm.ram" 5
check_eq "its bytes read back through the mount" 05 \
	"$(od -An -tx1 -N1 "$GM_MNT/vm.ram" | tr -d ' ')"
check "man finds gmemfsd(8), gmemctl(8), gmemfs(7) and mount.fuse.gmemfs(8)" \
	man -w gmemfsd.8 gmemctl.8 gmemfs.7 mount.fuse.gmemfs.8
check "mount(8)'s helper for type fuse.gmemfs is installed" test -x /sbin/mount.fuse.gmemfs
check "bash completion for gmemctl is installed" \
	bash -c 'source /usr/share/bash-completion/completions/gmemctl && complete -p gmemctl'
check "SIGTERM stops the installed gmemfsd and unmounts" gm_stop TERM

# The README's fstab line, as written: the guest's /etc/fstab and /mnt are
# in its overlay, and the mount in this test's namespace.
fstab=$(gm_readme_cmd "echo ")
[[ $fstab == *"/etc/fstab"* ]] || gm_bail "README.md's Install block has no fstab line"
GM_EXTRA_STATE+=(/run/gmemfs/mnt-gmemfs)
check "README: $fstab" bash -c "$fstab"
check_eq "mount(8) mounted gmemfs at /mnt/gmemfs through the helper" 65735546 \
	"$(stat -f -c %t /mnt/gmemfs)"
check_eq "with the fstab line's pool_size=8G" $((8 << 30)) \
	"$(stat -f -c '%b %S' /mnt/gmemfs | awk '{ printf "%.0f", $1 * $2 }')"
check_eq "and its pagesize=2m-thp" 2m-thp \
	"$(getfattr --absolute-names --only-values -n user.gmemfs.pagesize /mnt/gmemfs 2>&1)"
# shellcheck disable=SC2317 # called through gm_poll
fstab_daemon_gone() { [[ -z $(gm_lock_holders /run/gmemfs/mnt-gmemfs/lock) ]]; }
check "umount /mnt/gmemfs" umount /mnt/gmemfs
check "and the daemon the helper started exits" gm_poll 20 fstab_daemon_gone
check "gmemctl discard gives its stores back" /usr/bin/gmemctl discard --force /mnt/gmemfs

t0=$SECONDS
check "dpkg purges the four packages" dpkg --purge "${pkgs[@]}"
gm_say "dpkg --purge took $((SECONDS - t0)) s (TCG)"
check_eq "dpkg knows none of them any more" "" "$(known_packages)"
check_eq "dkms knows no gmemfs module" "" "$(dkms status -m gmemfs 2>&1)"
check "the DKMS tree has no gmemfs" test ! -e /var/lib/dkms/gmemfs
check_fails "modprobe finds no gmemfs module" "not found" modprobe -n gmemfs
check_eq "no file of ours is left" "$before" "$(leftovers)"

gm_done

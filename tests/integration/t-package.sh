#!/bin/bash
#
# t-package: the Debian packages, built as a packager builds them and
# installed as an administrator installs them.  Here: copy the tracked tree
# and subprojects/libfuse to a private directory, run dpkg-buildpackage
# -b -us -uc there (Debian's hardening flags on top of -Werror), check
# the packages' contents and the library's soname and exports, and run
# lintian on them (warnings and infos fail; debian/*.lintian-overrides
# says why each override is there).  Then, in the test guest (Linux 6.1,
# whose root is this machine's under a tmpfs overlay, so the machine's own
# dpkg database and /usr stay untouched): t-package-guest.sh installs
# them, runs what they installed, DKMS's module included, purges them and
# checks nothing is left.  Each stage says how long it took.
# Not for: what the programs do (the other tests).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

repo=$(cd "$GM_SRC/../.." && pwd)
src=$GM_TMP/src
debs=$GM_TMP/debs
pkgs=(gmemfs libgmemfs0 libgmemfs-dev gmemfs-dkms)
kernel=6.1
t_start=$SECONDS

for c in dpkg-buildpackage lintian dh dh_dkms git; do
	command -v "$c" >/dev/null ||
		gm_bail "$c is missing (tools/install-deps.sh installs it)"
done
[[ -f $repo/subprojects/libfuse/meson.build ]] ||
	gm_bail "no libfuse in subprojects/libfuse (tools/install-deps.sh fetches it)"

# The tree as a clone has it (the working copies of the tracked files),
# plus the libfuse source that is never committed.  The package is built
# one level down: dpkg-buildpackage writes the .debs beside the tree.
mkdir -p "$src/subprojects" "$debs"
git -C "$repo" ls-files -z | (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$src" ||
	gm_bail "copy the tracked tree"
cp -rL "$repo/subprojects/libfuse" "$src/subprojects/libfuse" || gm_bail "copy libfuse"

# The README's Install line, as written, in the top directory.
build=$(gm_readme_cmd dpkg-buildpackage)
[[ $build == "dpkg-buildpackage "* ]] || gm_bail "README.md's Install block has no dpkg-buildpackage line"
t0=$SECONDS
if (cd "$src" && eval "$build") >"$GM_TMP/build.log" 2>&1; then
	gm_pass "README: $build builds the packages"
else
	gm_say "the build log ends with:"
	tail -n 30 "$GM_TMP/build.log" | sed 's/^/#   /'
	gm_bail "README: $build builds the packages"
fi
gm_say "dpkg-buildpackage took $((SECONDS - t0)) s"
mv "$GM_TMP"/*.deb "$GM_TMP"/*.changes "$GM_TMP"/*.buildinfo "$debs/"

# One compile line of gmemfsd: -Werror with dpkg-buildflags' hardening.
cline=$(grep -m1 -- '-c ../../daemon/main.c' "$GM_TMP/build.log")
for f in -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Werror=format-security; do
	check "gmemfsd compiles with $f" grep -q -- " $f " <<<"$cline "
done
for p in "${pkgs[@]}"; do
	check "package $p is built" compgen -G "$debs/${p}_*.deb"
done

# $GM_TMP/PKG.files: the paths package PKG holds (directories left out).
for p in "${pkgs[@]}"; do
	dpkg-deb -c "$debs/$p"_*.deb | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' \
		>"$GM_TMP/$p.files"
done
# holds PKG PATH...: package PKG holds every PATH.
# shellcheck disable=SC2317 # called through check
holds() {
	local p=$1 f
	shift
	for f in "$@"; do
		grep -qxF -- "$f" "$GM_TMP/$p.files" || { echo "no $f in $p"; return 1; }
	done
}
check "gmemfs holds gmemfsd, gmemctl and its bash completion" holds gmemfs \
	/usr/sbin/gmemfsd /usr/bin/gmemctl /usr/share/bash-completion/completions/gmemctl
check "gmemfs holds the mount helper, the unit, its options file and the man pages" \
	holds gmemfs /usr/sbin/mount.fuse.gmemfs /lib/systemd/system/gmemfsd@.service \
	/etc/default/gmemfsd /usr/share/man/man8/gmemfsd.8.gz \
	/usr/share/man/man8/gmemctl.8.gz /usr/share/man/man7/gmemfs.7.gz
check_eq "/etc/default/gmemfsd is gmemfs's one conffile" /etc/default/gmemfsd \
	"$(dpkg-deb -I "$debs"/gmemfs_*.deb conffiles)"
check "libgmemfs0 holds the library" holds libgmemfs0 \
	/usr/lib/x86_64-linux-gnu/libgmemfs.so.0
check "libgmemfs-dev holds the headers, the .so link and gmemfs.pc" holds libgmemfs-dev \
	/usr/include/gmemfs/gmemfs_client.h /usr/include/gmemfs/gmemfs_ctl.h \
	/usr/lib/x86_64-linux-gnu/libgmemfs.so /usr/lib/x86_64-linux-gnu/pkgconfig/gmemfs.pc
version=$(dpkg-deb -f "$debs"/gmemfs-dkms_*.deb Version)
dkms_src=/usr/src/gmemfs-$version
check "gmemfs-dkms holds the shim's sources and dkms.conf under $dkms_src" holds gmemfs-dkms \
	"$dkms_src/Kbuild" "$dkms_src/dkms.conf" "$dkms_src/shim/main.c" \
	"$dkms_src/shim/shim.h" "$dkms_src/uapi/gmemfs_nl.h"
check_eq "no package ships libfuse (linked into gmemfsd)" "" \
	"$(cd "$GM_TMP" && cat -- *.files | grep -E 'fuse3|libfuse')"

# The library as libgmemfs0 ships it.
dpkg-deb -x "$debs"/libgmemfs0_*.deb "$GM_TMP/lib0"
so=$(compgen -G "$GM_TMP/lib0/usr/lib/x86_64-linux-gnu/libgmemfs.so.0.*")
check_eq "libgmemfs's soname is libgmemfs.so.0" "libgmemfs.so.0" \
	"$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
check_eq "libgmemfs exports only gmemfs_* symbols" "" \
	"$(nm -D --defined-only "$so" | awk '$3 !~ /^gmemfs_/')"

t0=$SECONDS
if lintian --display-info --fail-on error,warning,info "$debs"/*.changes >"$GM_TMP/lintian.log" 2>&1; then
	gm_pass "lintian finds nothing (errors, warnings, infos)"
else
	gm_fail "lintian finds nothing (errors, warnings, infos)"
	sed 's/^/#   /' "$GM_TMP/lintian.log"
fi
gm_say "lintian took $((SECONDS - t0)) s"

# The guest's kernel and headers (the shim's tests fetch the same).
vm=$repo/tools/test-vm
if ! "$vm/kernel-cache.sh" --check "$kernel"; then
	"$vm/kernel-cache.sh" "$kernel" || gm_bail "kernel $kernel in the cache"
fi
# shellcheck source=/dev/null
source "$repo/.cache/test-vm/$kernel/kernel.env"

# In the guest, t-package-guest.sh makes namespaces of its own (gm_init):
# ours, named by GM_OUTER_MNT_NS, mean nothing there.
t0=$SECONDS
rc=0
env -u GM_OUTER_MNT_NS GM_PKG_DEBS="$debs" GM_PKG_KDIR="$TVM_KDIR" \
	"$vm/run.sh" --kernel "$kernel" --timeout 780 -- \
	bash "$GM_SRC/t-package-guest.sh" >"$GM_TMP/guest.log" 2>&1 || rc=$?
gm_relay guest "$GM_TMP/guest.log"
check_eq "the guest run ends with exit 0" 0 "$rc"
gm_say "the guest run took $((SECONDS - t0)) s"
gm_say "t-package took $((SECONDS - t_start)) s in all"

gm_done

#!/bin/bash
#
# t-ctl-lib: libgmemfs as a VMM uses it: gm-vmm-open gets a file's backing
# fd with gmemfs_open_backing() (the socket found through the mount) and
# writes every page through its mapping; the bytes are then read through
# the mount.  In the plain build the same program is also compiled with
# nothing but `pkg-config --cflags --libs gmemfs` (meson's uninstalled
# .pc), as an outside project would.
# Not for: the wire format (t-ctl-hostile.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init

gm_start --pool-size=128M || gm_bail "gmemfsd mounts"
M=$GM_MNT
truncate -s 8M "$M/vm.ram"

# every_page_is FILE SIZE BYTE: each 4 KiB page of FILE starts with BYTE.
# shellcheck disable=SC2317 # called through check
every_page_is() {
	python3 - "$@" <<'PY'
import sys
path, size, byte = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "rb") as f:
    data = f.read(size)
sys.exit(0 if all(data[o] == byte for o in range(0, size, 4096)) else 1)
PY
}

check "gm-vmm-open maps the backing and writes every page" "$GM_BIN/gm-vmm-open" "$M/vm.ram" 7
check "every page reads back through the mount" every_page_is "$M/vm.ram" 8388608 7
check_fails "a file off any gmemfs mount: ENOENT" "No such file or directory" \
	"$GM_BIN/gm-vmm-open" /proc/self/status 1

if [[ -n ${GM_SANITIZED:-} ]]; then
	gm_say "sanitized build: the pkg-config build is checked in the plain build"
else
	pc=$GM_BUILD_ROOT/meson-uninstalled
	check "pkg-config knows gmemfs" env PKG_CONFIG_PATH="$pc" pkg-config --exists gmemfs
	# shellcheck disable=SC2046 # pkg-config's output is words
	check "an outside program builds with pkg-config alone" \
		cc -o "$GM_TMP/vmm" "$GM_SRC/gm-vmm-open.c" \
		$(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs gmemfs)
	check "and works" env LD_LIBRARY_PATH="$GM_BUILD_ROOT/lib" "$GM_TMP/vmm" "$M/vm.ram" 9
	check "its pages read back through the mount" every_page_is "$M/vm.ram" 8388608 9
fi

gm_done

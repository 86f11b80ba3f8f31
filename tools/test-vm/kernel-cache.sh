#!/usr/bin/env bash
# Fetch the shim's test kernel into the repository's gitignored cache:
# Debian's newest linux-image-6.1.0-N-amd64-unsigned and the matching
# linux-headers (+ -common, linux-kbuild-6.1), downloaded with
# `apt-get download` into .cache/shim-vm/debs (kept) and unpacked with
# `dpkg -x`, so the host's own kernel packages are never touched.
# `kernel-cache.sh --check` only says (exit status) whether all is there.  Writes .cache/shim-vm/release (e.g.
# 6.1.0-56-amd64); the other scripts here read it.  Idempotent: once the
# cache holds a kernel it does nothing.
#
# Not for: installing host packages (tools/install-deps.sh does that).
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cache=$repo/.cache/shim-vm
root=$cache/root
apt_opts=(-q -o DPkg::Lock::Timeout=300 -o APT::Sandbox::User=root)
work=""
trap '[[ -z $work ]] || rm -rf -- "$work"' EXIT

say() { printf 'kernel-cache: %s\n' "$*"; }
die() { printf 'kernel-cache: error: %s\n' "$*" >&2; exit 1; }

# Every file the tests use.  `make -C KDIR M=$PWD clean` from the
# repository root deletes *.ko and the like below it, this cache included:
# then the kept packages are unpacked again.
cached_ok() {
	local rel f
	[[ -f $cache/release ]] || return 1
	rel=$(cat -- "$cache/release")
	for f in "boot/vmlinuz-$rel" "usr/src/linux-headers-$rel/Makefile" \
		"usr/src/linux-headers-$rel/Module.symvers" \
		"usr/lib/linux-kbuild-6.1/scripts/mod/modpost" \
		"lib/modules/$rel/kernel/fs/fuse/fuse.ko"; do
		[[ -f $root/$f ]] || return 1
	done
}

# The newest ABI with both the image and the headers in the apt lists.
newest_abi() {
	local imgs hdrs
	imgs=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' |
		sed -n 's/^linux-image-6\.1\.0-\([0-9]*\)-amd64-unsigned .*/\1/p' | sort -n)
	hdrs=$(apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' |
		sed -n 's/^linux-headers-6\.1\.0-\([0-9]*\)-amd64 .*/\1/p' | sort -n)
	comm -12 <(sort <<<"$imgs") <(sort <<<"$hdrs") | sort -n | tail -n 1
}

# The headers' Makefile includes the -common tree by absolute path: point
# it into the cache (again, if the repository moved).
fix_makefile() {
	sed -i "s|^include .*/usr/src/\(linux-headers-[^/]*-common/Makefile\)$|include $2/usr/src/\1|" \
		"$1/usr/src/linux-headers-$3/Makefile"
}

# The four packages of release $1 (ABI $2), downloaded into $cache/debs
# unless they are there already.
fetch_debs() {
	local rel=$1 abi=$2 n=0
	[[ -d $cache/debs ]] && n=$(find "$cache/debs" -maxdepth 1 \( -name "linux-image-$rel-unsigned_*.deb" \
		-o -name "linux-headers-${rel}_*.deb" -o -name "linux-headers-6.1.0-$abi-common_*.deb" \
		-o -name 'linux-kbuild-6.1_*.deb' \) | wc -l)
	[[ $n -eq 4 ]] && return 0
	rm -rf -- "$cache/debs"
	mkdir -p -- "$cache/debs"
	say "apt-get download linux-image-$rel-unsigned linux-headers-$rel (+common, kbuild)"
	(cd -- "$cache/debs" && apt-get "${apt_opts[@]}" download \
		"linux-image-$rel-unsigned" "linux-headers-$rel" \
		"linux-headers-6.1.0-$abi-common" linux-kbuild-6.1 >/dev/null)
}

main() {
	local abi rel deb
	if [[ ${1:-} == --check ]]; then
		cached_ok	# for tests: is everything there?  Fetches nothing.
		return
	fi
	if cached_ok; then
		rel=$(cat -- "$cache/release")
		fix_makefile "$root" "$root" "$rel"
		say "guest kernel $rel is in $cache"
		return 0
	fi
	if [[ -f $cache/release ]]; then
		rel=$(cat -- "$cache/release")
		abi=${rel#6.1.0-}
		abi=${abi%-amd64}
	else
		abi=$(newest_abi)
		if [[ -z $abi ]]; then
			say "no linux-image-6.1 in the apt lists; apt-get update"
			apt-get "${apt_opts[@]}" update >/dev/null
			abi=$(newest_abi)
		fi
		[[ -n $abi ]] || die "no Debian linux-image-6.1.0-N-amd64-unsigned with matching headers in apt"
		rel=6.1.0-$abi-amd64
	fi
	mkdir -p -- "$cache"
	fetch_debs "$rel" "$abi"
	work=$(mktemp -d "$cache/.unpack.XXXXXX")
	for deb in "$cache"/debs/*.deb; do
		dpkg -x "$deb" "$work"
	done
	fix_makefile "$work" "$root" "$rel"
	rm -rf -- "$root"
	mv -T -- "$work" "$root"
	work=""
	printf '%s\n' "$rel" >"$cache/release"
	cached_ok || die "unpacked $rel but files the tests need are missing"
	say "guest kernel $rel unpacked into $root"
}

main "$@"

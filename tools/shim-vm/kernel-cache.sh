#!/usr/bin/env bash
# Fetch the shim's test kernel into the repository's gitignored cache:
# Debian's newest linux-image-6.1.0-N-amd64-unsigned and the matching
# linux-headers (+ -common, linux-kbuild-6.1), downloaded with
# `apt-get download` and unpacked with `dpkg -x`, so the host's own kernel
# packages are never touched.  Writes .cache/shim-vm/release (e.g.
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

cached_ok() {
	local rel
	[[ -f $cache/release ]] || return 1
	rel=$(cat -- "$cache/release")
	[[ -f $root/boot/vmlinuz-$rel && -f $root/usr/src/linux-headers-$rel/Makefile ]]
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

main() {
	local abi rel deb
	if cached_ok; then
		rel=$(cat -- "$cache/release")
		fix_makefile "$root" "$root" "$rel"
		say "guest kernel $rel is in $cache"
		return 0
	fi
	abi=$(newest_abi)
	if [[ -z $abi ]]; then
		say "no linux-image-6.1 in the apt lists; apt-get update"
		apt-get "${apt_opts[@]}" update >/dev/null
		abi=$(newest_abi)
	fi
	[[ -n $abi ]] || die "no Debian linux-image-6.1.0-N-amd64-unsigned with matching headers in apt"
	rel=6.1.0-$abi-amd64
	mkdir -p -- "$cache"
	work=$(mktemp -d "$cache/.fetch.XXXXXX")
	say "apt-get download linux-image-$rel-unsigned linux-headers-$rel (+common, kbuild)"
	(cd -- "$work" && apt-get "${apt_opts[@]}" download \
		"linux-image-$rel-unsigned" "linux-headers-$rel" \
		"linux-headers-6.1.0-$abi-common" linux-kbuild-6.1 >/dev/null)
	mkdir -p -- "$work/root"
	for deb in "$work"/*.deb; do
		dpkg -x "$deb" "$work/root"
	done
	fix_makefile "$work/root" "$root" "$rel"
	rm -rf -- "$root"
	mv -T -- "$work/root" "$root"
	printf '%s\n' "$rel" >"$cache/release"
	say "guest kernel $rel unpacked into $root"
}

main "$@"

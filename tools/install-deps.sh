#!/usr/bin/env bash
# Install what building and testing gmemfs needs on Debian 12, then make sure
# meson can find a libfuse >= 3.16 (the first with FUSE passthrough): the
# system's if it is new enough, else Debian 13's fuse3 source package
# unpacked into subprojects/libfuse, which meson builds as a static fallback.
#
# Idempotent and quick when everything is there: it then runs only
# dpkg-query and pkg-config.  Runs as root, without a terminal.  It never
# names an archive host: the deb-src entry for trixie is derived from the
# machine's own apt configuration (the stanza or line serving its release).
#
# The test guest's kernels (Debian 12's 6.1 and trixie-backports' 7.3:
# images, modules, headers) are not installed: tools/test-vm/kernel-cache.sh
# unpacks them into the gitignored .cache/.
#
# Not for: building (meson does that).
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive

# Everything the build, the unit tests and the integration tests (shell
# scripts and small C programs mounting a real gmemfs) call.
packages=(
	gcc libc6-dev make meson ninja-build pkg-config   # build
	liburcu-dev libjemalloc-dev libnl-3-dev libnl-genl-3-dev check
	fuse3            # fusermount3, /etc/fuse.conf
	attr             # setfattr, getfattr
	acl e2fsprogs    # setfacl, getfacl; chattr, lsattr (t-acl, t-chattr, t-ctl-perm)
	util-linux mount # findmnt, mountpoint, unshare; mount, umount
	procps           # free, ps
	python3          # gm-sys.py, .gmemfs/stats JSON, make check's summary
	python3-prometheus-client  # t-metrics parses .gmemfs/metrics with it
	shellcheck       # the 'lint' test: tests/integration/*.sh, tools/*.sh, .ci/run
	groff-base man-db  # t-man lints the man pages (groff -ww, man --warnings)
	systemd          # systemd.pc (unit dir); t-systemd: systemd-analyze, systemd as PID 1
	dpkg-dev         # dpkg-source, for apt-get source (libfuse fallback)
	qemu-system-x86 busybox-static   # the test guest (tools/test-vm)
	libelf1 libssl3  # linux-kbuild-6.1's objtool, modpost (building the shim)
	kmod             # depmod for the guest's module trees; the guest's modprobe
	debootstrap debian-archive-keyring  # the trixie root the shim builds in for 7.3
	debhelper dh-dkms dkms lintian  # t-package: dpkg-buildpackage of debian/, its checks
	git              # t-package copies the tracked tree
)

fuse_min=3.16
fuse_suite=trixie
src_list=/etc/apt/sources.list.d/gmemfs-$fuse_suite-src.sources
libfuse_dir=$repo/subprojects/libfuse
apt_opts=(-q -o DPkg::Lock::Timeout=300)

# shellcheck source=apt-source.sh
source "$repo/tools/apt-source.sh"

work=""
trap '[[ -z $work ]] || rm -rf -- "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

need_root() {
	[[ $EUID -eq 0 ]] || die "$1 needs root; run: sudo $0"
}

# Run a command quietly; show its output only if it fails.
quietly() {
	local log rc=0
	log=$(mktemp)
	"$@" >"$log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		cat -- "$log" >&2
		rm -f -- "$log"
		die "failed ($rc): $*"
	fi
	rm -f -- "$log"
}

missing_packages() {
	local installed p
	# One dpkg-query for all; unknown names print nothing (and make it fail).
	installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' \
		"${packages[@]}" 2>/dev/null | awk '$1 == "ii" { print $2 }' || true)
	for p in "${packages[@]}"; do
		grep -qxF -- "$p" <<<"$installed" || printf '%s\n' "$p"
	done
}

system_fuse_ok() {
	command -v pkg-config >/dev/null &&
		pkg-config --atleast-version="$fuse_min" fuse3 2>/dev/null
}

# The version in a libfuse tree's top meson.build (project(..., version: 'X')).
libfuse_tree_version() {
	sed -n "s/^[[:space:]]*version[[:space:]]*:[[:space:]]*'\([^']*\)'.*/\1/p" \
		"$1/meson.build" 2>/dev/null | head -n 1
}

# Write the deb-src entry for $fuse_suite unless it is already there.
write_src_list() {
	local codename src uri signed new
	# shellcheck source=/dev/null
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	[[ -n $codename ]] || die "no VERSION_CODENAME in /etc/os-release"
	src=$(derive_debian_source "$codename") ||
		die "no apt source for '$codename main' in /etc/apt; cannot derive a deb-src entry for $fuse_suite (or put libfuse >= $fuse_min source in $libfuse_dir)"
	uri=$(head -n 1 <<<"$src")
	signed=$(tail -n +2 <<<"$src")
	new="Types: deb-src
URIs: $uri
Suites: $fuse_suite
Components: main"
	[[ -z $signed ]] || new+=$'\n'"$signed"
	if [[ -f $src_list ]] && [[ $(cat -- "$src_list") == "$new" ]]; then
		say "$src_list is in place (deb-src $fuse_suite main, $uri)"
		return 0
	fi
	need_root "adding $src_list"
	printf '%s\n' "$new" >"$src_list.tmp"
	chmod 644 -- "$src_list.tmp"
	mv -f -- "$src_list.tmp" "$src_list"
	say "wrote $src_list (deb-src $fuse_suite main, from the $codename source $uri)"
}

fetch_libfuse() {
	local tree version
	local -a trees
	mkdir -p -- "$(dirname -- "$libfuse_dir")"
	# Unpack next to the destination so the final rename is atomic.
	work=$(mktemp -d "$(dirname -- "$libfuse_dir")/.libfuse-fetch.XXXXXX")
	say "fetching fuse3/$fuse_suite source with apt-get source into $work"
	(cd -- "$work" && quietly apt-get "${apt_opts[@]}" \
		-o APT::Sandbox::User=root source "fuse3/$fuse_suite")
	shopt -s nullglob
	trees=("$work"/fuse3-*/)
	shopt -u nullglob
	[[ ${#trees[@]} -eq 1 ]] || die "expected one fuse3-* tree in $work, found ${#trees[@]}"
	tree=${trees[0]%/}
	version=$(libfuse_tree_version "$tree")
	[[ -n $version ]] || die "no version in $tree/meson.build"
	dpkg --compare-versions "$version" ge "$fuse_min" ||
		die "fuse3/$fuse_suite is $version, older than $fuse_min"
	mv -T -- "$tree" "$libfuse_dir"
	say "libfuse $version unpacked to $libfuse_dir (meson builds it as a static subproject)"
}

main() {
	local -a missing
	local fetch=0 update=0 v

	mapfile -t missing < <(missing_packages)

	if system_fuse_ok; then
		say "libfuse: system fuse3 $(pkg-config --modversion fuse3) is >= $fuse_min"
	elif [[ -e $libfuse_dir ]]; then
		v=$(libfuse_tree_version "$libfuse_dir")
		if [[ -z $v ]] || ! dpkg --compare-versions "$v" ge "$fuse_min"; then
			die "$libfuse_dir holds no libfuse >= $fuse_min ('${v:-no version}'); remove it and rerun"
		fi
		say "libfuse: using $libfuse_dir ($v)"
	else
		fetch=1
		write_src_list
	fi

	if [[ ${#missing[@]} -gt 0 ]]; then
		need_root "installing ${missing[*]}"
		update=1
	fi
	[[ $fetch -eq 0 ]] || update=1

	if [[ $update -eq 1 ]]; then
		need_root "apt-get update"
		say "apt-get update"
		quietly apt-get "${apt_opts[@]}" update
	fi
	if [[ ${#missing[@]} -gt 0 ]]; then
		say "apt-get install ${missing[*]}"
		quietly apt-get "${apt_opts[@]}" -y --no-install-recommends install "${missing[@]}"
	else
		say "packages: all ${#packages[@]} present"
	fi

	# A newly installed pkg-config may have found a new enough system libfuse.
	if [[ $fetch -eq 1 ]] && system_fuse_ok; then
		say "libfuse: system fuse3 $(pkg-config --modversion fuse3) is >= $fuse_min"
		fetch=0
	fi
	[[ $fetch -eq 0 ]] || fetch_libfuse
	"$repo/tools/test-vm/kernel-cache.sh"
}

main "$@"

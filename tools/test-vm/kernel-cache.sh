#!/usr/bin/env bash
# Fetch the test guest's kernels (tools/test-vm/kernels.conf) into the
# repository's gitignored cache, .cache/test-vm/NAME/: the image, its
# modules (indexed with depmod, so the guest's modprobe finds them) and the
# headers the shim builds against.  Packages come with `apt-get download`
# and are unpacked with `dpkg -x`: the host's own apt setup and packages are
# never touched.  A suite other than the machine's own is read through a
# private apt configuration in .cache/test-vm/apt, whose archive is the one
# the machine's apt sources already name.  A kernel built by a newer gcc
# than the machine has (BUILT WITH "trixie") gets a trixie build root made
# with debootstrap, holding that gcc and the headers.
#
# usage: kernel-cache.sh [NAME...]     fetch (default: every kernel); idempotent
#        kernel-cache.sh --check NAME  exit status: is NAME complete?  Fetches nothing.
#
# For each kernel it writes .cache/test-vm/NAME/kernel.env, which the other
# scripts here source: TVM_RELEASE, TVM_VMLINUZ, TVM_MODDIR, TVM_KDIR (the
# headers, as the builder sees them) and TVM_BUILDROOT (empty: the host
# builds).
#
# Not for: host packages (tools/install-deps.sh), booting (run.sh).
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
cache=$repo/.cache/test-vm
conf=$here/kernels.conf
apt_opts=(-q -o DPkg::Lock::Timeout=300 -o APT::Sandbox::User=root)
work=""
trap '[[ -z $work ]] || rm -rf -- "$work"' EXIT

# shellcheck source=../apt-source.sh
source "$repo/tools/apt-source.sh"

say() { printf 'kernel-cache: %s\n' "$*" >&2; }
die() { printf 'kernel-cache: error: %s\n' "$*" >&2; exit 1; }

# conf_get NAME: "SUITE RELEASE BUILDER" of kernels.conf's line for NAME.
conf_get() {
	awk -v n="$1" '$1 == n && $1 !~ /^#/ { print $2, $3, $4; found = 1 }
		END { exit !found }' "$conf" || die "no kernel '$1' in $conf"
}

conf_names() { awk '/^[^#[:space:]]/ { print $1 }' "$conf"; }

# Debian 12's 6.1 packages hold the modules in the image package and keep
# headers under an ABI number; the newer ones split image and modules and
# name the headers' common part after the version.
new_style() { [[ $1 == *+deb* ]]; }

# debs_for RELEASE: the packages a kernel needs.
debs_for() {
	local rel=$1 ver=${1%-amd64}
	if new_style "$rel"; then
		echo "linux-binary-$rel linux-base-$rel linux-modules-$rel linux-headers-$rel" \
			"linux-headers-$ver-common linux-kbuild-$ver"
	else
		local abi=${ver#6.1.0-}
		echo "linux-image-$rel-unsigned linux-headers-$rel" \
			"linux-headers-6.1.0-$abi-common linux-kbuild-6.1"
	fi
}

# apt_for SUITE CMD...: run an apt command against SUITE.  The machine's own
# release goes through its own lists; another suite through a private apt
# configuration whose lists live in the cache (updated once a day).
apt_for() {
	local suite=$1 codename dir uri src
	shift
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	if [[ $suite == "$codename" ]]; then
		"$@" "${apt_opts[@]}"
		return
	fi
	dir=$cache/apt/$suite
	if [[ ! -f $dir/sources.list ]]; then
		src=$(derive_debian_source "$codename") ||
			die "no apt source for '$codename main' in /etc/apt to derive $suite from"
		uri=$(head -n 1 <<<"$src")
		mkdir -p -- "$dir/lists/partial" "$dir/cache/archives/partial"
		printf 'deb [signed-by=%s] %s %s main\n' \
			/usr/share/keyrings/debian-archive-keyring.gpg "$uri" "$suite" \
			>"$dir/sources.list"
	fi
	"$@" "${apt_opts[@]}" -o Dir::Etc::SourceList="$dir/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$dir/lists" \
		-o Dir::Cache="$dir/cache"
}

apt_update_for() {
	local suite=$1 stamp=$cache/apt/$1/updated
	[[ -n $(find "$stamp" -mmin -1440 2>/dev/null) ]] && return 0
	say "apt-get update ($suite)"
	apt_for "$suite" apt-get update >/dev/null
	mkdir -p -- "$cache/apt/$suite"
	touch -- "$stamp"
}

# newest_in_series SUITE RELEASE: the newest release of RELEASE's series
# (6.1.0-N-amd64, or 7.3.N+debM-amd64) whose headers SUITE has.
newest_in_series() {
	local rel=$2 pat
	if new_style "$rel"; then
		pat="${rel%.*}\\.[0-9]+\\+deb[0-9]+-amd64"
		pat=${pat//./\\.}
		pat=${pat//\\\\./\\.}
	else
		pat='6\.1\.0-[0-9]+-amd64'
	fi
	apt_for "$1" apt-cache search --names-only "^linux-headers-$pat\$" |
		sed -n 's/^linux-headers-\([^ ]*\) .*/\1/p' | sort -V | tail -n 1
}

# fetch_debs NAME SUITE RELEASE: download RELEASE's packages unless kept.
fetch_debs() {
	local name=$1 suite=$2 rel=$3 d=$cache/$1/debs p n=0 want
	want=$(debs_for "$rel")
	for p in $want; do
		compgen -G "$d/${p}_*.deb" >/dev/null && n=$((n + 1))
	done
	[[ $n -eq $(wc -w <<<"$want") ]] && return 0
	rm -rf -- "$d"
	mkdir -p -- "$d"
	say "$name: apt-get download $want"
	# shellcheck disable=SC2086 # the package names are words
	(cd -- "$d" && apt_for "$suite" apt-get download $want >/dev/null)
}

# The pinned release, or the series' newest if the archive dropped it.
resolve_release() {
	local name=$1 suite=$2 rel=$3 newest
	apt_update_for "$suite"
	if apt_for "$suite" apt-cache show "linux-headers-$rel" >/dev/null 2>&1; then
		echo "$rel"
		return
	fi
	newest=$(newest_in_series "$suite" "$rel")
	[[ -n $newest ]] || die "$name: $suite has neither $rel nor another of its series"
	say "$name: kernels.conf pins $rel, which $suite no longer has: using $newest" \
		"(update kernels.conf)"
	echo "$newest"
}

# The headers' Makefile includes the -common tree by absolute path: point
# it into the cache (again, if the repository moved).
fix_makefile() {
	sed -i "s|^include .*/usr/src/\(linux-headers-[^/]*-common/Makefile\)$|include $2/usr/src/\1|" \
		"$1/usr/src/linux-headers-$3/Makefile"
}

# The trixie build root: debootstrap's minbase with gcc-14 (the compiler
# Debian's newer kernels are built with, as linux-headers' gcc-14-for-host
# says) and what kbuild's prebuilt tools load.  Made once, atomically.
buildroot_trixie() {
	local br=$cache/buildroot-trixie uri codename src
	[[ -f $br/.complete ]] && return 0
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	src=$(derive_debian_source "$codename") ||
		die "no apt source for '$codename main' in /etc/apt to take the archive from"
	uri=$(head -n 1 <<<"$src")
	command -v debootstrap >/dev/null || die "debootstrap is missing (tools/install-deps.sh installs it)"
	rm -rf -- "$br"
	work=$(mktemp -d "$cache/.buildroot.XXXXXX")
	say "debootstrap trixie (gcc-14, make) into $br"
	if ! debootstrap --variant=minbase \
		--include=gcc-14,make,libelf1t64,libssl3t64,zlib1g,pahole,xz-utils \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		trixie "$work" "$uri" >"$cache/debootstrap.log" 2>&1; then
		tail -n 20 -- "$cache/debootstrap.log" >&2
		die "debootstrap of trixie failed (log: $cache/debootstrap.log)"
	fi
	touch -- "$work/.complete"
	mv -T -- "$work" "$br"
	work=""
}

# unpack NAME RELEASE BUILDER: the image and modules into .cache/test-vm/
# NAME/root, the headers there too or into the build root; modules indexed.
unpack() {
	local name=$1 rel=$2 builder=$3 dir=$cache/$1 deb base br=""
	work=$(mktemp -d "$dir/.unpack.XXXXXX")
	for deb in "$dir"/debs/*.deb; do
		if [[ $builder == trixie && ${deb##*/} == linux-@(headers|kbuild)-* ]]; then
			continue
		fi
		dpkg -x "$deb" "$work"
	done
	base=$work
	new_style "$rel" && base=$work/usr
	depmod -b "$base" "$rel" || die "$name: depmod of $rel failed"
	rm -rf -- "$dir/root"
	mv -T -- "$work" "$dir/root"
	work=""
	if [[ $builder == trixie ]]; then
		buildroot_trixie
		br=$cache/buildroot-trixie
		for deb in "$dir"/debs/linux-{headers,kbuild}-*.deb; do
			dpkg -x "$deb" "$br"
		done
	else
		fix_makefile "$dir/root" "$dir/root" "$rel"
	fi
	write_env "$name" "$rel" "$br"
}

write_env() {
	local name=$1 rel=$2 br=$3 root=$cache/$1/root vmlinuz moddir kdir
	if new_style "$rel"; then
		vmlinuz=$root/usr/lib/modules/$rel/vmlinuz
		moddir=$root/usr/lib/modules/$rel
	else
		vmlinuz=$root/boot/vmlinuz-$rel
		moddir=$root/lib/modules/$rel
	fi
	kdir=/usr/src/linux-headers-$rel
	[[ -n $br ]] || kdir=$root$kdir
	printf 'TVM_NAME=%q\nTVM_RELEASE=%q\nTVM_VMLINUZ=%q\nTVM_MODDIR=%q\nTVM_BUILDROOT=%q\nTVM_KDIR=%q\n' \
		"$name" "$rel" "$vmlinuz" "$moddir" "$br" "$kdir" >"$cache/$name/kernel.env"
}

# Every file the guest and the shim's build use.  `make -C KDIR M=$PWD
# clean` from the repository root deletes *.ko below it, this cache
# included: then the kept packages are unpacked again.
cached_ok() {
	local env=$cache/$1/kernel.env f
	[[ -f $env ]] || return 1
	# shellcheck source=/dev/null
	source "$env"
	for f in "$TVM_VMLINUZ" "$TVM_MODDIR/modules.dep" "$TVM_BUILDROOT$TVM_KDIR/Makefile" \
		"$TVM_BUILDROOT$TVM_KDIR/Module.symvers"; do
		[[ -f $f ]] || return 1
	done
	[[ -z $TVM_BUILDROOT || -f $TVM_BUILDROOT/.complete ]] || return 1
	[[ -f $TVM_MODDIR/modules.builtin ]] &&
		compgen -G "$TVM_MODDIR/kernel/fs/overlayfs/overlay.ko*" >/dev/null
}

fetch_kernel() {
	local name=$1 suite pinned builder rel
	read -r suite pinned builder < <(conf_get "$name")
	if cached_ok "$name"; then
		# shellcheck source=/dev/null
		source "$cache/$name/kernel.env"
		[[ -n $TVM_BUILDROOT ]] || fix_makefile "$cache/$name/root" "$cache/$name/root" "$TVM_RELEASE"
		say "$name: Linux $TVM_RELEASE is in $cache/$name"
		return 0
	fi
	mkdir -p -- "$cache/$name"
	rel=$(resolve_release "$name" "$suite" "$pinned")
	fetch_debs "$name" "$suite" "$rel"
	unpack "$name" "$rel" "$builder"
	cached_ok "$name" || die "$name: unpacked $rel but files the guest needs are missing"
	say "$name: Linux $rel unpacked into $cache/$name"
}

main() {
	local name
	shopt -s extglob
	if [[ ${1:-} == --check ]]; then
		cached_ok "${2:?usage: kernel-cache.sh --check NAME}"
		return
	fi
	[[ $EUID -eq 0 ]] || die "needs root (apt-get, debootstrap)"
	if [[ $# -eq 0 ]]; then
		mapfile -t names < <(conf_names)
		set -- "${names[@]}"
	fi
	for name in "$@"; do
		conf_get "$name" >/dev/null
		fetch_kernel "$name"
	done
}

main "$@"

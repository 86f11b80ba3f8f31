#!/bin/bash
#
# t-systemd: gmemfsd@.service as built (tools/systemd) passes
# systemd-analyze verify, with its man pages found; then the unit runs
# under a real systemd: systemd 252 as PID 1 of a PID, mount and UTS
# namespace of the test's own (the machine's PID 1 is not systemd), in a
# cgroup of its own.  `systemctl start gmemfsd@<escaped mountpoint>` returns
# with the mount serving and the options of /etc/default/gmemfsd and of an
# instance drop-in applied (the drop-in's win), the daemon shares systemd's
# mount namespace (no hardening setting gave it one of its own), kill -9 of
# the main PID is followed by a restart onto the same state (the file's
# bytes), and `systemctl stop` unmounts and ends the daemon.
# systemd gets a read-only /proc/sys: the machine's knobs stay as they are.
# Changes to the unit for the test, as drop-ins in the private /run:
# DefaultDependencies=no (sysinit.target would start this machine's boot
# services), the options file at a test path (the installed path is under
# the install prefix), output to a file (no journald); and ExecStart names
# the build tree's gmemfsd (a sanitized one without the system-call
# filter, see below).  Not for: mount(8) (t-mount), what a restart
# keeps in detail (t-restart).

# Functions here run through check and gm_poll; inner shells expand "$1".
# shellcheck disable=SC2317,SC2016
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
UNIT=${GM_BUILD_ROOT:-}/tools/systemd/gmemfsd@.service
MAN_SRC=$GM_SRC/../../docs/man
[[ -f $UNIT ]] || { echo "no unit at $UNIT (GM_BUILD_ROOT)"; exit 1; }
M=$GM_MNT
INST=$(systemd-escape --path "$M")
U=gmemfsd@$INST.service

# --- systemd-analyze verify ---
exec_path=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$UNIT")
check_eq "ExecStart runs gmemfsd from sbindir" sbin/gmemfsd \
	"$(basename "$(dirname "$exec_path")")/$(basename "$exec_path")"
UNITS=$(mktemp -d "$GM_TMP/units.XXXXXX")
# verify checks that ExecStart's program exists: the build tree's stands in.
sed "s|^ExecStart=$exec_path |ExecStart=$GMEMFSD |" "$UNIT" >"$UNITS/gmemfsd@.service"
MANS=$GM_TMP/man
mkdir -p "$MANS/man7" "$MANS/man8"
cp "$MAN_SRC/gmemfsd.8" "$MAN_SRC/gmemctl.8" "$MANS/man8/"
cp "$MAN_SRC/gmemfs.7" "$MANS/man7/"
verify() {
	local out
	if ! out=$(MANPATH=$MANS systemd-analyze verify "$UNITS/$U" 2>&1) || [[ -n $out ]]; then
		printf '%s\n' "$out"
		return 1
	fi
}
check "systemd-analyze verify $U: no complaint, man pages found" verify

# --- under a real systemd ---
SD_PID=""	# systemd, as this namespace sees it
UNSHARE_PID=""
CGROUPS=()	# the cgroup directories made for it, one per hierarchy

# Every hierarchy systemd tracks processes in: the named v1 one and the
# unified one (hybrid), or the unified one alone.
cgroup_roots() {
	local d
	for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
		[[ -e $d/cgroup.procs ]] && echo "$d"
	done
	[[ -e /sys/fs/cgroup/cgroup.procs ]] && echo /sys/fs/cgroup
	return 0
}

# No process left in cgroup $1 or below it.
cgroup_empty() {
	[[ ! -d $1 ]] || ! find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | grep -q .
}

# After systemd is gone: the namespace's processes died with it; the
# cgroups it made below ours go, deepest first.
sd_cleanup() {
	local d
	if [[ -n $UNSHARE_PID ]]; then
		gm_reap "$UNSHARE_PID"	# --kill-child: systemd and its services die
		UNSHARE_PID=""
	fi
	for d in "${CGROUPS[@]}"; do
		# The killed processes leave their cgroups a moment later.
		gm_poll 10 cgroup_empty "$d"
		[[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		[[ -d $d ]] && gm_say "cleanup: cannot remove cgroup $d"
	done
	CGROUPS=()
}
trap 'rc=$?; sd_cleanup; (exit "$rc"); gm_cleanup' EXIT

in_sd() { nsenter -t "$SD_PID" -m -p -- "$@"; }
sd_ready() {
	[[ $(in_sd systemctl is-system-running 2>/dev/null) == @(running|degraded) ]]
}

mount -t tmpfs gm-run /run || gm_bail "a private /run for systemd"
# The README's `systemctl enable --now` links the unit in /etc and mounts
# at /mnt/gmemfs: a private copy of /etc/systemd/system and a private /mnt
# here, so the machine's stay as they are.
if ! cp -a /etc/systemd/system "$GM_TMP/etc-units" ||
	! mount --bind "$GM_TMP/etc-units" /etc/systemd/system; then
	gm_bail "a private /etc/systemd/system"
fi
mount -t tmpfs gm-mnt /mnt || gm_bail "a private /mnt"
SYS=/run/systemd/system
RI=gmemfsd@mnt-gmemfs.service	# the README's instance
mkdir -p "$SYS/$U.d" "$SYS/$RI.d"
cp "$UNITS/gmemfsd@.service" "$SYS/"
# Each instance the test starts: none of this machine's boot.  This
# systemd shares the machine's /tmp, /var and the rest: sysinit.target
# would run systemd-tmpfiles, whose boot pass empties /tmp.  Masked
# besides, in the private /run, so that no dependency can start them.
for d in "$SYS/$U.d" "$SYS/$RI.d"; do
	printf '[Unit]\nDefaultDependencies=no\n[Service]\nStandardOutput=append:%s\nStandardError=append:%s\n' \
		"$GM_LOG" "$GM_LOG" >"$d/test.conf"
done
for u in sysinit.target basic.target local-fs.target systemd-tmpfiles-setup.service \
	systemd-tmpfiles-setup-dev.service systemd-tmpfiles-clean.timer \
	systemd-tmpfiles-clean.service; do
	ln -s /dev/null "$SYS/$u"
done
printf '[Unit]\nDescription=t-systemd: nothing but what the test starts\n' >"$SYS/gm-test.target"
printf 'GMEMFSD_OPTS="-o pool_size=128M,views=visible"\n' >"$GM_TMP/default"
cat >"$SYS/$U.d/options.conf" <<EOT
[Service]
EnvironmentFile=$GM_TMP/default
Environment="GMEMFSD_INSTANCE_OPTS=-o pool_size=256M,pagesize=4k"
EOT
# A sanitized gmemfsd's leak check stops the world with ptrace(2), which the
# unit's SystemCallFilter (@debug) answers with SIGSYS: not for such builds.
if [[ -n ${GM_SANITIZED:-} ]]; then
	for d in "$SYS/$U.d" "$SYS/$RI.d"; do
		printf '[Service]\nSystemCallFilter=\n' >"$d/sanitizer.conf"
	done
fi

# Gone if anything emptied the machine's /tmp (systemd-tmpfiles' boot pass).
touch "$GM_TMP/tmp-canary"

# What systemd must still see in its private /tmp besides the test's
# directory: the tree and the build, when they are under /tmp (a clone
# there, as CI may make).
keep_dirs() {
	local d
	for d in "$(cd "$GM_SRC/../.." && pwd)" "${GM_BUILD_ROOT:-}"; do
		[[ -n $d && $d == /tmp/* ]] && realpath -- "$d"
	done
	return 0
}

# Named after the test's private directory: unique on the machine.
knobs() { cat /proc/sys/fs/file-max /proc/sys/fs/nr_open; }
KNOBS=$(knobs)
mapfile -t KEEP < <(keep_dirs)
CG=gmemfs-t-systemd.${GM_TMP##*.}
(
	for d in $(cgroup_roots); do
		mkdir "$d/$CG" && echo "$BASHPID" >"$d/$CG/cgroup.procs" || exit 1
	done
	# /proc/sys read-only, as container managers give it: systemd as PID 1
	# raises fs.file-max and other machine-wide knobs otherwise.  /tmp is
	# a private tmpfs holding only the test's directory: the machine's
	# other files in /tmp are out of systemd's reach.  The shell is PID 1
	# until it execs systemd.
	exec unshare --pid --fork --kill-child --uts --mount-proc -- \
		env -i container=gmemfs-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		sh -c 'mount --bind /proc/sys /proc/sys &&
			mount -o remount,bind,ro /proc/sys /proc/sys || exit 1
			n=0
			for d in "$@"; do
				n=$((n + 1))
				mkdir -p "/run/gm-keep/$n" && mount --bind "$d" "/run/gm-keep/$n" || exit 1
			done
			mount -t tmpfs gm-sd-tmp /tmp || exit 1
			n=0
			for d in "$@"; do
				n=$((n + 1))
				mkdir -p "$d" && mount --bind "/run/gm-keep/$n" "$d" || exit 1
			done
			exec /lib/systemd/systemd --system --unit=gm-test.target --log-target=null' \
		_ "$GM_TMP" "${KEEP[@]}"
) >>"$GM_LOG" 2>&1 &
UNSHARE_PID=$!
for d in $(cgroup_roots); do
	CGROUPS+=("$d/$CG")
done
sd_child() {
	# The children file ends in a space.
	read -r SD_PID _ <"/proc/$UNSHARE_PID/task/$UNSHARE_PID/children" 2>/dev/null
	[[ -n $SD_PID && $(cat "/proc/$SD_PID/comm" 2>/dev/null) == systemd ]]
}
gm_poll 10 sd_child || gm_bail "systemd did not start under unshare"
check "systemd runs as PID 1 of its namespace" gm_poll 30 sd_ready

main_pid() { in_sd systemctl show -p MainPID --value "$U"; }
pool_bytes() { in_sd stat -f -c '%b %S' "$M" | awk '{ print $1 * $2 }'; }
check "systemctl start $U" in_sd systemctl start "$U"
check_eq "at once, the drop-in's 256 MiB pool (over the options file's)" \
	$((256 << 20)) "$(pool_bytes)"
check "the options file's views=visible: .gmemfs in the root's listing" \
	bash -c 'nsenter -t "$1" -m -p -- ls -a "$2" | grep -qx .gmemfs' _ "$SD_PID" "$M"
check_eq "the drop-in's pagesize=4k" 4k \
	"$(in_sd getfattr --absolute-names --only-values -n user.gmemfs.pagesize "$M" 2>&1)"
pid1=$(main_pid)
check_eq "the daemon is in systemd's mount namespace (the host's, outside a test)" \
	"$(in_sd readlink /proc/1/ns/mnt)" "$(in_sd readlink "/proc/$pid1/ns/mnt")"
head -c 5M /dev/urandom >"$GM_TMP/bytes"
check "a 5 MiB file written through the mount" in_sd cp "$GM_TMP/bytes" "$M/ram"

# --- a crash: kill -9, systemd restarts it onto the same state ---
check "kill -9 the main PID ($pid1)" in_sd kill -KILL "$pid1"
restarted() {
	local p
	p=$(main_pid)
	[[ $p != 0 && $p != "$pid1" && $(in_sd systemctl is-active "$U") == active ]]
}
check "systemd restarts it (Restart=on-failure)" gm_poll 30 restarted
check_eq "one restart counted" 1 "$(in_sd systemctl show -p NRestarts --value "$U")"
check "the file's bytes after the restart" in_sd cmp "$GM_TMP/bytes" "$M/ram"

# --- stop ---
pid2=$(main_pid)
check "systemctl stop $U" in_sd systemctl stop "$U"
check_eq "the unit is inactive (a clean stop, not a failure)" inactive \
	"$(in_sd systemctl is-active "$U")"
check "nothing mounted at $M" bash -c '! nsenter -t "$1" -m -p -- findmnt "$2"' _ "$SD_PID" "$M"
check "the daemon is gone" bash -c '! nsenter -t "$1" -m -p -- kill -0 "$2"' _ "$SD_PID" "$pid2"

# --- the README's Install line, as written ---
cmd=$(gm_readme_cmd "systemctl ")
check_eq "the README enables gmemfsd@mnt-gmemfs" "systemctl enable --now gmemfsd@mnt-gmemfs" "$cmd"
check "README: $cmd" in_sd sh -c "$cmd"
check_eq "it mounted gmemfs at /mnt/gmemfs" fuseblk-or-fuse \
	"$(in_sd stat -f -c %T /mnt/gmemfs | sed 's/^fuse.*/fuseblk-or-fuse/')"
check "and linked it for boot" in_sd test -L \
	/etc/systemd/system/multi-user.target.wants/gmemfsd@mnt-gmemfs.service
check "a file written there" in_sd cp "$GM_TMP/bytes" /mnt/gmemfs/ram
check "systemctl disable --now stops it" in_sd systemctl disable --now gmemfsd@mnt-gmemfs
check "nothing mounted at /mnt/gmemfs" bash -c '! nsenter -t "$1" -m -p -- findmnt /mnt/gmemfs' _ "$SD_PID"

# systemd in a container exits on SIGRTMIN+4 (poweroff).
kill -s SIGRTMIN+4 "$SD_PID"
check "systemd exits on SIGRTMIN+4" gm_poll 30 gm_dead "$UNSHARE_PID"
wait "$UNSHARE_PID" 2>/dev/null
UNSHARE_PID=""
sd_cleanup
check_eq "systemd left fs.file-max and fs.nr_open as they were" "$KNOBS" "$(knobs)"
check "systemd left the machine's /tmp as it was" test -e "$GM_TMP/tmp-canary"
gm_done

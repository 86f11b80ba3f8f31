#!/bin/bash
#
# t-scale-fds: the number of files is not bounded by the daemon's fd limit.
# gmemfsd runs with an RLIMIT_NOFILE of 512 and 2000 files are created
# through the mount, each sized with ftruncate and given its own bytes; the
# daemon holds few fds while they sit closed.  After kill -9 and a restart
# (with the same limit: replay opens every backing once) a sample of the
# files has its size and bytes back, and a file can still be created.
# Not for: the cost per file (gmembench's scale scenario) or what the
# restart keeps besides contents (t-restart).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
M=$GM_MNT
N=2000
LIMIT=512

# Every process from here on, gmemfsd included, gets the lower limit; hard
# too, since gmemfsd raises its soft limit to the hard one at start.
ulimit -n "$LIMIT" || gm_bail "cannot lower the fd limit to $LIMIT"

# make FIRST COUNT: create files f<i> of 64 KiB holding "file <i>" at 4096.
# shellcheck disable=SC2317 # called through check
make_files() {
	python3 - "$M/many" "$1" "$2" <<'EOF'
import os, sys
d, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(first, first + count):
    fd = os.open(f"{d}/f{i}", os.O_CREAT | os.O_RDWR, 0o600)
    os.ftruncate(fd, 65536)
    os.pwrite(fd, f"file {i}".encode(), 4096)
    os.close(fd)
EOF
}

# sample_ok: every 97th file, and the last, has its size and bytes.
# shellcheck disable=SC2317 # called through check
sample_ok() {
	local i got
	for i in $(seq 0 97 $((N - 1))) $((N - 1)); do
		[[ $(stat -c %s "$M/many/f$i") == 65536 ]] || { echo "f$i: size"; return 1; }
		got=$(dd if="$M/many/f$i" bs=1 skip=4096 count=$((${#i} + 5)) status=none) ||
			return 1
		[[ $got == "file $i" ]] || { echo "f$i: read '$got'"; return 1; }
	done
}

daemon_fds() { find "/proc/$GM_PID/fd" -mindepth 1 | wc -l; }

# shellcheck disable=SC2119 # default options
gm_start || gm_bail "gmemfsd mounts"
check_eq "gmemfsd runs with an fd limit of $LIMIT" "$LIMIT" \
	"$(awk '/^Max open files/ { print $4 }' "/proc/$GM_PID/limits")"
mkdir "$M/many"
check "$N files created and sized, more than the fd limit" make_files 0 "$N"
check_eq "all $N files are listed" "$N" "$(find "$M/many" -type f | wc -l)"
check "a sample reads back" sample_ok
fds=$(daemon_fds)
check_cond "gmemfsd holds few fds for closed files ($fds)" "fds < 100"

check "kill -9" gm_stop KILL
# shellcheck disable=SC2119
gm_start || gm_bail "gmemfsd restarts after kill -9"
check "after the restart, the sample has its sizes and bytes" sample_ok
check_eq "after the restart, all $N files are listed" "$N" "$(find "$M/many" -type f | wc -l)"
fds=$(daemon_fds)
check_cond "after replay, gmemfsd holds few fds ($fds)" "fds < 100"
check "a new file can still be created" make_files "$N" 1

gm_done

#!/bin/bash
#
# t-stress: many clients at once.  Workers create, write, hard-link, rename
# (plain, across directories, RENAME_EXCHANGE), set xattrs, list and unlink
# in private and shared directories while a reader walks the tree and the
# stats view.  Afterwards every surviving file holds what its worker wrote,
# the stats view lists exactly the files the tree has, and a restart rebuilds
# the very same tree from the journal the concurrent changes wrote.  Under
# the sanitized build this is what exposes races in the daemon.
# Not for: timing; each worker does a fixed number of rounds.

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
gm_start --pool-size=256M || gm_bail "gmemfsd mounts"
M=$GM_MNT
WORKERS=4
ROUNDS=150

# One worker: its own directory, plus names in the shared one.  Each round
# makes two files, links one, moves it to the shared directory and swaps it
# with the other (RENAME_EXCHANGE); one round in three removes everything.
stress_worker() {
	local w=$1 d=$M/w$1 i
	mkdir -p "$d/sub" || return 1
	for ((i = 0; i < ROUNDS; i++)); do
		echo "w$w-$i" >"$d/f$i" || return 1
		echo "w$w-$i-b" >"$d/g$i" || return 1
		ln "$d/f$i" "$d/sub/l$i" || return 1
		setfattr -n user.round -v "$i" "$d/f$i" || return 1
		mv "$d/f$i" "$M/shared/w$w-$i" || return 1
		"$GM_BIN/gm-rename" exchange "$M/shared/w$w-$i" "$d/g$i" >/dev/null || return 1
		# readdir only: a stat of each name would race with the other workers
		ls -f "$M/shared" >/dev/null || return 1
		if ((i % 3 == 0)); then
			rm "$M/shared/w$w-$i" "$d/g$i" "$d/sub/l$i" || return 1
		else
			mv "$d/g$i" "$d/keep$i" || return 1
			mv "$M/shared/w$w-$i" "$d/other$i" || return 1
		fi
	done
	echo finished >"$GM_TMP/worker$w.ok"
}

# The reader: lookups, readdirplus and stats snapshots while names move.
stress_reader() {
	local i
	for ((i = 0; i < 200; i++)); do
		find "$M" -xdev >/dev/null 2>&1
		cat "$M/.gmemfs/stats" >/dev/null || return 1
		[[ -f $GM_TMP/worker0.ok ]] && break
	done
	echo finished >"$GM_TMP/reader.ok"
}

mkdir "$M/shared"
pids=()
for ((w = 0; w < WORKERS; w++)); do
	stress_worker "$w" >"$GM_TMP/worker$w.log" 2>&1 &
	pids+=("$!")
	GM_KIDS+=("$!")
done
stress_reader >"$GM_TMP/reader.log" 2>&1 &
pids+=("$!")
GM_KIDS+=("$!")

# shellcheck disable=SC2317 # called through gm_poll
all_dead() {
	local p
	for p in "${pids[@]}"; do gm_alive "$p" && return 1; done
	return 0
}
check "workers finish within 120 s" gm_poll 120 all_dead
for ((w = 0; w < WORKERS; w++)); do
	check "worker $w did all $ROUNDS rounds" test -f "$GM_TMP/worker$w.ok"
	[[ -f $GM_TMP/worker$w.ok ]] || head -n 5 "$GM_TMP/worker$w.log" | sed 's/^/#   /'
done
check "reader walked the tree and stats throughout" test -f "$GM_TMP/reader.ok"
check "gmemfsd is alive" gm_alive "$GM_PID"

# Survivors hold what their worker wrote: keepN is the first file (its
# xattr and its link sub/lN with it), otherN the second.
bad=0
for ((w = 0; w < WORKERS; w++)); do
	for ((i = 0; i < ROUNDS; i++)); do
		((i % 3 == 0)) && continue
		d=$M/w$w
		[[ $(cat "$d/keep$i" 2>/dev/null) == "w$w-$i" ]] || bad=$((bad + 1))
		[[ $(cat "$d/sub/l$i" 2>/dev/null) == "w$w-$i" ]] || bad=$((bad + 1))
		[[ $(cat "$d/other$i" 2>/dev/null) == "w$w-$i-b" ]] || bad=$((bad + 1))
		[[ $(getfattr --only-values -n user.round "$d/keep$i" 2>/dev/null) == "$i" ]] ||
			bad=$((bad + 1))
	done
done
check_eq "every kept file has its content, link and xattr" 0 "$bad"
kept=$((WORKERS * (ROUNDS - (ROUNDS + 2) / 3)))
check_eq "three names per kept round" "$((kept * 3))" \
	"$(find "$M" -xdev -type f -not -path "$M/.gmemfs/*" | wc -l)"
check_eq "stats lists every name" "$((kept * 3))" "$(gm_stats 'len(d["files"])')"
check_eq "shared directory is empty again" 0 "$(find "$M/shared" -mindepth 1 | wc -l)"
check_pool_agrees

check_no_data_requests

# The tree rebuilt from the journal is the tree we had.
gm_tree >"$GM_TMP/tree.before"
check "stop" gm_stop TERM
check "restart" gm_start --pool-size=256M
gm_tree >"$GM_TMP/tree.after"
check "restart rebuilds the same tree: names, modes, links, ids, xattrs, contents" \
	diff "$GM_TMP/tree.before" "$GM_TMP/tree.after"

gm_done

# shellcheck shell=bash
#
# snap-lib.sh: what t-snapshot.sh and t-snapshot-kvm.sh share: gmemctl's
# JSON figures, the expected data ranges of a patterned file, and
# snap_suite, the snapshot/restore/incremental round of one backing.
# Not for: starting or stopping anything (lib.sh).

# snap_init: after gm_init, what the rest reads: M (the mount), T
# (scratch), SOCK (the control socket), S (the snapshots' directory) and
# SNAP (gm-snap.py's command).
snap_init() {
	M=$GM_MNT
	T=$GM_TMP
	SOCK=$GM_STATE.sock
	S=$T/snaps
	mkdir "$S"
	SNAP=(python3 "$GM_SRC/gm-snap.py")
}

# jget KEY: a figure of gmemctl --json's line on stdin.
jget() { python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"; }
# count LIST: how many page numbers a comma-separated list holds.
count() { tr ',' '\n' <<<"$1" | grep -c .; }
# expect_ranges PAGESIZE LIST: the data ranges pages LIST make, merged.
expect_ranges() {
	python3 - "$@" <<'PY'
import sys
size, pages = int(sys.argv[1]), sorted(int(x) for x in sys.argv[2].split(","))
out = []
for p in pages:
    if out and out[-1][1] == p * size:
        out[-1][1] += size
    else:
        out.append([p * size, (p + 1) * size])
print(" ".join("%d-%d" % (a, b) for a, b in out))
PY
}
blocks_bytes() { echo $(($(stat -c %b "$1") * 512)); }
# snap ARGS: gmemctl --json snapshot ARGS, its JSON line in $out.
snap() { out=$("$GMEMCTL" --json snapshot "$@" 2>&1); }

# snap_suite NAME POLICY PAGESIZE NPAGES DATA ZERO CHANGED FRESH ZEROED [attach]:
# DATA pages patterned, ZERO pages written with zeros, the rest holes;
# then CHANGED and FRESH pages rewritten and ZEROED (one of DATA) zeroed.
snap_suite() {
	local name=$1 policy=$2 P=$3 np=$4 data=$5 zero=$6 changed=$7 fresh=$8 zeroed=$9
	local attach=${10:-} D=$M/$1 F=$M/$1/vm.ram
	mkdir "$D"
	setfattr -n user.gmemfs.pagesize -v "$policy" "$D"
	: >"$F"
	truncate -s $((np * P)) "$F"
	if [[ -n $attach ]]; then
		check "$name: the file is attached to a VM" \
			"$GM_BIN/gm-ctl" "$SOCK" attach "$name/vm.ram" kvm
	fi
	"${SNAP[@]}" pages "$F" "$P" 1 "$data" "$zero"
	cp "$F" "$T/$name.v1"

	snap "$F" "$S/$name.a"
	check_eq "$name: snapshot writes the $(count "$data") non-zero pages, not the zero ones" \
		"$(count "$data")" "$(jget pages <<<"$out")"
	check_eq "$name: the image has data exactly where the file had non-zero pages" \
		"$(expect_ranges "$P" "$data")" "$("${SNAP[@]}" ranges "$S/$name.a")"
	check_eq "$name: the image is the memory's size" $((np * P)) "$(stat -c %s "$S/$name.a")"
	check "$name: restore into a new file" "$GMEMCTL" restore "$S/$name.a" "$D/r1.ram"
	check "$name: the restored file reads back byte for byte" cmp "$F" "$D/r1.ram"
	if [[ $name != 2m-thp ]]; then
		check_eq "$name: the restored file holds only the non-zero pages" \
			$(($(count "$data") * P)) "$(blocks_bytes "$D/r1.ram")"
	fi
	rm "$D/r1.ram"

	"${SNAP[@]}" pages "$F" "$P" 2 "$changed,$fresh" "$zeroed"
	cp "$F" "$T/$name.v2"
	snap --parent "$S/$name.a" "$F" "$S/$name.b"
	check_eq "$name: the incremental snapshot writes only the changed pages" \
		"$(count "$changed,$fresh")" "$(jget pages <<<"$out")"
	check_eq "$name: its image holds only those" \
		"$(expect_ranges "$P" "$changed,$fresh")" "$("${SNAP[@]}" ranges "$S/$name.b")"
	check "$name: the page zeroed since the parent is a ZERO extent" \
		grep -q "\\b$((zeroed * P))+$P:zero\\b" <<<"$("${SNAP[@]}" extents "$S/$name.b.idx")"
	check "$name: restore of the incremental snapshot" \
		"$GMEMCTL" restore "$S/$name.b" "$D/r2.ram"
	check "$name: reads back the new content, the zeroed page too" cmp "$T/$name.v2" "$D/r2.ram"
	rm "$D/r2.ram"
	check "$name: the parent still restores" "$GMEMCTL" restore "$S/$name.a" "$D/r3.ram"
	check "$name: to the old content" cmp "$T/$name.v1" "$D/r3.ram"
	rm "$D/r3.ram"
}


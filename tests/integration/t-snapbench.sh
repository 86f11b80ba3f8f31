#!/bin/bash
#
# t-snapbench: gm-snapbench does the work it reports, on a tiny size
# against a real gmemfs mount with huge pages: every row measured (no n/a),
# each snapshot and restore moved the whole file (every page holds the
# guest's word, so every page is data), each lazy-fault sample timed one
# fault per chunk, each working-set sample's guest checked every page of
# the working set, the JSON is well formed, bad options are refused.  Run
# by meson in the 'bench' suite with GM_BIN naming bench/'s build
# directory.  Not for: timings (never asserted).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
# Two 4 MiB hugetlb-2m objects at once: the source and its restored copy.
gm_start --hugepages=2M:4 || gm_bail "gmemfsd mounts with --hugepages=2M:4"
B=$GM_BIN/gm-snapbench
J=$GM_TMP/snap.json

out=$("$B" --mount "$GM_MNT" --size 4M --rounds 2 --dir "$GM_TMP" --json "$J" \
	2>"$GM_TMP/snapbench.err")
check_eq "a tiny run exits 0" 0 "$?"
printf '%s\n' "$out" | sed 's/^/#   /'
sed 's/^/#   stderr: /' "$GM_TMP/snapbench.err"
check "stdout names the command that reproduces it" \
	grep -q "^reproduce: gm-snapbench --mount .* --size 4194304 --rounds 2" <<<"$out"

judge() {
	python3 - "$J" <<'PY'
import json, sys

size, page = 4 << 20, 4096
with open(sys.argv[1]) as f:
    d = json.load(f)
bad = []
if d["errors"] != 0:
    bad.append("errors: %d" % d["errors"])
chunk, ws = d["chunk"], d["ws_pages"]
if chunk < page or size % chunk:
    bad.append("chunk %d" % chunk)
for s in d["series"]:
    name, checks = s["name"], s["check"]
    if s["na"]:
        bad.append("%s: n/a: %s" % (name, s["na"]))
        continue
    if len(s["samples"]) != 2 or any(v <= 0 for v in s["samples"]):
        bad.append("%s: samples %r" % (name, s["samples"]))
    if s["unit"] == "GiB/s":
        want = size
    elif s["unit"] == "us":
        want = size // chunk
    else:
        want = ws
    if checks != [want] * 2:
        bad.append("%s: evidence %r, want %d each" % (name, checks, want))
if ws != size // page // 4:
    bad.append("working set of %d pages" % ws)
for b in bad:
    print(b)
PY
}
verdict=$(judge 2>&1)
check_eq "every row measured, each sample did its work" "" "$verdict"

"$B" --mount "$GM_MNT" --size 3M >/dev/null 2>&1
check_eq "a size that is not whole 2 MiB pages is refused" 2 "$?"
"$B" --size 4M >/dev/null 2>&1
check_eq "no --mount is refused" 2 "$?"
left=$(find "$GM_MNT" -mindepth 1 -not -path "$GM_MNT/.gmemfs*")
check_eq "nothing left on the mount" "" "$left"
gm_done

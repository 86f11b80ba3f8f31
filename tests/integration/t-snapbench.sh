#!/bin/bash
#
# t-snapbench: gm-snapbench does the work it reports, on a tiny size
# against a real gmemfs mount with huge pages: every row measured (no n/a),
# each snapshot and restore moved the whole file (every page holds the
# guest's word, so every page is data), each lazy-fault sample timed one
# fault per chunk, each working-set sample's guest checked every page of
# the working set, the JSON is well formed, bad options are refused.
# Without /dev/kvm the rows that need a VM (kvm-gmem, the working set) must
# be n/a saying so, the run still exits 0, and every other row, the lazy
# faults included, is measured as above.  Run by meson in the 'bench'
# suite with GM_BIN naming bench/'s build directory.  Not for: timings
# (never asserted).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
# Two 4 MiB hugetlb-2m objects at once (the source and its restored copy),
# and the hugetlb-2m target's guest RAM (anonymous, from the same pool).
gm_start --hugepages=2M:6 || gm_bail "gmemfsd mounts with --hugepages=2M:6"
B=$GM_BIN/gm-snapbench
J=$GM_TMP/snap.json
NO_KVM="/dev/kvm is missing on this machine"
kvm=1
[[ -e /dev/kvm ]] || { kvm=0; gm_say "$NO_KVM: the rows that need it must say so"; }
# In the test guest the root, GM_TMP's too, is a tmpfs overlay, whose pages
# no fadvise drops: the cold rows' snapshots go on run.sh's scratch disk.
snapdir=$GM_TMP
if [[ -n ${TVM_SCRATCH:-} ]]; then
	snapdir=$(mktemp -d "$TVM_SCRATCH/snapbench.XXXXXX") || gm_bail "mktemp on the scratch disk"
	GM_EXTRA_DIRS+=("$snapdir")
fi

out=$("$B" --mount "$GM_MNT" --size 4M --rounds 2 --dir "$snapdir" --json "$J" \
	2>"$GM_TMP/snapbench.err")
check_eq "a tiny run exits 0" 0 "$?"
printf '%s\n' "$out" | sed 's/^/#   /'
sed 's/^/#   stderr: /' "$GM_TMP/snapbench.err"
check "stdout names the command that reproduces it" \
	grep -q "^reproduce: gm-snapbench --mount .* --size 4194304 --rounds 2" <<<"$out"

# Rows that need a VM: kvm-gmem's (a guest_memfd is made on a VM), the
# working set's and the recording's (unit ms: a guest checks the pages);
# the recording's need a kernel with userfaultfd RWP too (else n/a).
judge() {
	python3 - "$J" "$kvm" "$NO_KVM" <<'PY'
import json, platform, re, sys

size, page = 4 << 20, 4096
kvm, no_kvm = sys.argv[2] == "1", sys.argv[3]
with open(sys.argv[1]) as f:
    d = json.load(f)
bad = []
if d["errors"] != 0:
    bad.append("errors: %d" % d["errors"])
chunk, ws = d["chunk"], d["ws_pages"]
if chunk < page or size % chunk:
    bad.append("chunk %d" % chunk)
kvm_rows = [s for s in d["series"] if s["name"].endswith(", kvm-gmem") or s["unit"] == "ms"]
# kvm-gmem's two, and the working set's: 4k cold and warm (no prefetch,
# prefetch, File; warm also the floor), thp and hugetlb-2m cold and warm
# (no prefetch, prefetch); the recording's two (without and with).
if len(kvm_rows) != 19:
    bad.append("%d rows that need KVM, want 19" % len(kvm_rows))
# Recording without faults needs userfaultfd RWP: Linux 7.2+.
rel = re.match(r"(\d+)\.(\d+)", platform.release())
rwp = rel and (int(rel[1]), int(rel[2])) >= (7, 2)
rec_rows = [s for s in d["series"] if "record" in s["name"]]
if len(rec_rows) != 2:
    bad.append("%d recording rows, want 2" % len(rec_rows))
for s in d["series"]:
    name, checks = s["name"], s["check"]
    if not kvm and s in kvm_rows:
        if (s["status"], s["na"], s["samples"]) != ("n/a", no_kvm, []):
            bad.append("%s: %s (%s), %d samples, want n/a (%s)" %
                       (name, s["status"], s["na"], len(s["samples"]), no_kvm))
        continue
    if not rwp and s in rec_rows:
        if s["status"] != "n/a" or "userfaultfd RWP" not in s["na"]:
            bad.append("%s: %s (%s), want n/a for want of userfaultfd RWP" %
                       (name, s["status"], s["na"]))
        continue
    if s["na"] or s["status"] != "measured":
        bad.append("%s: %s: %s" % (name, s["status"], s["na"]))
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
check_eq "every row it can measure here measured, each sample did its work" "" "$verdict"
na_lines=$(grep -c "n/a: $NO_KVM\$" <<<"$out")
check_eq "the table says n/a for want of KVM on exactly the rows that need it" \
	"$((kvm ? 0 : 19))" "$na_lines"

"$B" --mount "$GM_MNT" --size 3M >/dev/null 2>&1
check_eq "a size that is not whole 2 MiB pages is refused" 2 "$?"
"$B" --size 4M >/dev/null 2>&1
check_eq "no --mount is refused" 2 "$?"
left=$(find "$GM_MNT" -mindepth 1 -not -path "$GM_MNT/.gmemfs*")
check_eq "nothing left on the mount" "" "$left"
gm_done

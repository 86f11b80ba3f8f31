#!/bin/bash
#
# t-bench: gmembench does the work it reports, on a tiny size against a
# real gmemfs mount: the guest wrote every page (its words checked from the
# host), fallocate and write() populated the whole file (st_blocks), a
# punched file holds nothing, first touch populated every page (with 4K
# pages where the backend is 4K, 2M ones on hugetlb), gmemfs data
# went through passthrough; the control-socket backends: the hugetlb file's
# handed-out fd maps with 2 MiB pages, a kvm-gmem file's guest_memfd carried
# the guest's words (measured wherever in-kernel guest_memfd is); gmemfsd's huge
# pages went back; the JSON is well formed with every backend measured or
# skipped with a reason, the plot is an SVG, and bad options are refused.
# Where /dev/kvm is, every row that needs it is measured; where it is not,
# exactly those rows are n/a with that reason.  Run by meson in the 'bench'
# suite, both ways, with GM_BIN naming bench/'s build directory.  Not for: timings (never asserted).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
# Two 2 MiB pages: one 4 MiB object of gmemfs-hugetlb-2m; gmemfsd adds
# them to the kernel's pool and gives exactly those back when it stops.
gm_start --hugepages=2M:2 || gm_bail "gmemfsd mounts with --hugepages=2M:2"
B=$GM_BIN/gmembench
J=$GM_TMP/bench.json
P=$GM_TMP/bench.svg

out=$("$B" --mount "$GM_MNT" --size 4M --rounds 2 --json "$J" --plot "$P" 2>"$GM_TMP/bench.err")
check_eq "a tiny run exits 0" 0 "$?"
printf '%s\n' "$out" | sed 's/^/#   /'
check "stdout names the command that reproduces it" \
	grep -q "^command: .*gmembench --mount .* --size 4M --rounds 2" <<<"$out"
check "stdout has the memset ceiling" grep -q "^memset ceiling" <<<"$out"
check "stderr has a progress line per step" grep -q "touch round 2/2" "$GM_TMP/bench.err"

# Every assertion on the JSON in one place; prints one line per failure.
judge() {
	python3 - "$J" <<'EOF'
import json, os, sys

size, page = 4 << 20, 4096
with open(sys.argv[1]) as f:
    d = json.load(f)
bad = []
for k in ("machine", "parameters", "backends", "results", "memset_ceiling", "command"):
    if k not in d:
        bad.append("no %s" % k)
if d["parameters"]["size"] != size or d["parameters"]["rounds"] != 2:
    bad.append("parameters %r" % d["parameters"])
backends = {b["name"]: b for b in d["backends"]}
for b in d["backends"]:
    if b["status"] == "skipped" and not b.get("reason"):
        bad.append("%s skipped without a reason" % b["name"])
    elif b["status"] not in ("measured", "skipped"):
        bad.append("%s: status %s" % (b["name"], b["status"]))
for name in ("memfd-4k", "gmemfs-4k", "gmemfs-thp"):
    if backends.get(name, {}).get("status") != "measured":
        bad.append("%s not measured: %s" % (name, backends.get(name)))
for name in ("gmemfs-4k", "gmemfs-thp"):
    if not backends[name].get("passthrough"):
        bad.append("%s: passthrough off" % name)
# The control-socket backends run wherever their raw backing does (the
# daemon has the huge pages; KVM is there), unless the daemon refuses them.
for name, raw in (("gmemfs-hugetlb-2m", "hugetlb-2m"), ("gmemfs-kvm-gmem", "guest_memfd")):
    b = backends[name]
    if b["via"] != "control socket fd" or b["sits_on"] != raw:
        bad.append("%s: via %s, sits on %s" % (name, b["via"], b["sits_on"]))
    if backends[raw]["status"] == "measured" and b["status"] != "measured":
        bad.append("%s skipped where %s runs: %s" % (name, raw, b.get("reason")))
if backends["gmemfs-hugetlb-2m"].get("page_size", 2 << 20) != 2 << 20:
    bad.append("gmemfs-hugetlb-2m: page size %s" % backends["gmemfs-hugetlb-2m"]["page_size"])
if d["gmemfsd_requests"] != {"read": 0, "write": 0}:
    bad.append("read/write requests reached gmemfsd: %r" % d["gmemfsd_requests"])
# guest_memfd does not show fallocated pages to mincore (they are not
# uptodate until touched): -1 there, for the raw one and gmemfs's alike.
GMEM = ("guest_memfd", "gmemfs-kvm-gmem")
want = {  # scenario: (evidence key, test)
    "touch": ("bytes_populated", lambda v, b: v >= size),
    "refault": ("bytes_populated", lambda v, b: v >= size),
    "guest-touch": ("pages_verified", lambda v, b: v == size // page),
    "fallocate": ("bytes_populated",
                  lambda v, b: v >= size or (b in GMEM and v == -1)),
    "write-populate": ("bytes_populated", lambda v, b: v >= size),
    "punch": ("bytes_after_punch", lambda v, b: v == 0),
    "seq-read": ("bytes_populated", lambda v, b: v >= size),
    "seq-write": ("bytes_populated", lambda v, b: v >= size),
    "open-mmap": ("cycles", lambda v, b: v > 0),
}
seen = set()
measured = {(r["scenario"], r["backend"]) for r in d["results"] if r["status"] == "measured"}
for r in d["results"]:
    sc, bk = r["scenario"], r["backend"]
    seen.add((sc, bk))
    if r["status"] == "n/a":
        if not r.get("reason"):
            bad.append("%s/%s n/a without a reason" % (sc, bk))
        continue
    if r["status"] != "measured" or len(r["samples"]) != 2:
        bad.append("%s/%s: %s, %d samples" % (sc, bk, r["status"], len(r["samples"])))
        continue
    key, ok = want[sc]
    for s in r["samples"]:
        if not ok(s[key], bk) or not s["value"] > 0:
            bad.append("%s/%s: %s=%s value=%s" % (sc, bk, key, s[key], s["value"]))
    # The page size the kernel really used: 4K backends never huge,
    # hugetlb always (THP may fall back to 4K, so it is not asserted).
    if sc in ("touch", "refault", "guest-touch"):
        want_huge = {"guest_memfd": 0, "memfd-4k": 0, "gmemfs-4k": 0, "hugetlb-2m": size,
                     "gmemfs-hugetlb-2m": size, "gmemfs-kvm-gmem": 0}
        for s in r["samples"]:
            if bk in want_huge and s.get("huge_bytes") != want_huge[bk]:
                bad.append("%s/%s: huge_bytes %s" % (sc, bk, s.get("huge_bytes")))
    # A ratio wherever the raw backing ran the scenario (a guest_memfd has
    # no name to open again, gmemfs's kvm-gmem file has).
    if (sc, backends[bk]["sits_on"]) in measured and r.get("speed_vs_raw") is None:
        bad.append("%s/%s: no ratio to its raw backing" % (sc, bk))
for sc in want:
    for name, b in backends.items():
        if b["status"] == "measured" and (sc, name) not in seen:
            bad.append("no result for %s/%s" % (sc, name))
# Where KVM is there, everything that needs it is measured, and the guest
# really ran on gmemfs memory (pages_verified above is the host reading
# every page's word back).  Where it is not (meson runs this test both
# ways: through need.sh --kvm and as-pvm-host.sh), exactly those rows are
# n/a, for that reason.
NO_KVM = "/dev/kvm is missing on this machine"
if os.path.exists("/dev/kvm"):
    for name in GMEM:
        if backends[name]["status"] != "measured":
            bad.append("%s not measured where /dev/kvm is: %s" % (name, backends[name]))
    for name, b in backends.items():
        if b["status"] == "measured" and ("guest-touch", name) not in measured:
            bad.append("guest-touch did not run on %s" % name)
else:
    for name in GMEM:
        if (backends[name]["status"], backends[name].get("reason")) != ("skipped", NO_KVM):
            bad.append("%s without /dev/kvm: %s" % (name, backends[name]))
    for r in d["results"]:
        needs_vm = r["scenario"] == "guest-touch" or r["backend"] in GMEM
        if needs_vm and (r["status"], r.get("reason")) != ("n/a", NO_KVM):
            bad.append("%s/%s without /dev/kvm: %s %s" % (r["scenario"], r["backend"],
                                                          r["status"], r.get("reason")))
        if not needs_vm and r.get("reason") == NO_KVM:
            bad.append("%s/%s: n/a for want of KVM, which it does not need" %
                       (r["scenario"], r["backend"]))
print("\n".join(bad) if bad else "ok")
EOF
}
# The status of one backend in the JSON, and why if it is skipped.
backend_status() {
	python3 - "$J" "$1" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    b = next(b for b in json.load(f)["backends"] if b["name"] == sys.argv[2])
print(b["status"], b.get("reason", ""))
EOF
}
check_eq "the JSON shows every sample did its work, every skip has a reason" ok "$(judge)"
for name in gmemfs-hugetlb-2m gmemfs-kvm-gmem; do
	gm_say "$name: $(backend_status "$name")"
done
check "the plot is an SVG with bars" grep -q "<svg.*<rect" <(tr -d '\n' <"$P")
check_eq "nothing is left in the mount" "" "$(find "$GM_MNT" -mindepth 1 -maxdepth 1 ! -name .gmemfs)"

out=$("$B" --mount "$GM_MNT" --size 4M --rounds 1 --only punch 2>/dev/null)
check "--only runs that scenario alone" grep -q "^punch:" <<<"$out"
# shellcheck disable=SC2016 # the inner shell expands $1
check "--only leaves the others out" bash -c '! grep -q "^touch:" <<<"$1"' _ "$out"
check_fails "an unknown scenario is refused" "bad option --only nosuch" \
	"$B" --only nosuch
check_fails "a size that is not whole pages is refused" "bad option --size 1000" \
	"$B" --size 1000

added=$(gm_stats '[p for p in d["pool"]["providers"] if p["name"] == "hugetlb-2m"][0].get("hugepages_added", 0)')
check "at the end, SIGTERM stops gmemfsd and unmounts" gm_stop TERM
check_eq "at the end, gmemfsd's exit status is 0" 0 "$GM_STOP_STATUS"
if ((${added:-0} > 0)); then
	check "gmemfsd gave the $added huge pages it added back to the kernel" \
		grep -q "pool: gave $added hugetlb-2m pages back to the kernel" "$GM_LOG"
fi
gm_done

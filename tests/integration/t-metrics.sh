#!/bin/bash
#
# t-metrics: the daemon's figures in the Prometheus text format, as
# MOUNT/.gmemfs/metrics and `gmemctl metrics` give them, read by a real
# parser (python3-prometheus-client): every family has HELP and TYPE, every
# name starts gmemfs_, counters end _total; the pool budget is --pool-size,
# the providers' use adds up to the pool's, the open counter grows by the
# opens the test makes, a snapshot and a restore show in the snapshot
# families (counts by result, bytes, pages, time, when), and both ways of
# reading give the same families.
# Lazy-restore sessions need a VMM (KVM): here their families are empty.
# Not for: the stats JSON (t-pool, t-ctl), lazy restore itself (t-lazy).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ -x ${GMEMCTL:-} ]] || { echo "GMEMCTL must name gmemctl (meson sets it)"; exit 1; }
# Debian's package is for Debian's python3, which another python3 first on
# PATH (a pyenv's, say) does not see.
PY=python3
$PY -c 'import prometheus_client.parser' 2>/dev/null || PY=/usr/bin/python3
$PY -c 'import prometheus_client.parser' 2>/dev/null ||
	gm_skip "python3-prometheus-client is missing (tools/install-deps.sh installs it)"
gm_init
gm_start --pool-size=64M || gm_bail "gmemfsd mounts with --pool-size=64M"
M=$GM_MNT
T=$GM_TMP
VIEW=$M/.gmemfs/metrics
MiB=$((1 << 20))

# metric FILE EXPR: a python expression over the parsed text of FILE, with
# v(NAME, **labels) the value of one sample, fams the families by name.
metric() {
	"$PY" - "$1" "$2" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
with open(sys.argv[1]) as f:
    fams = {m.name: m for m in text_string_to_metric_families(f.read())}
def v(name, **labels):
    hits = [s.value for m in fams.values() for s in m.samples
            if s.name == name and s.labels == labels]
    assert len(hits) == 1, (name, labels, hits)
    return int(hits[0]) if hits[0] == int(hits[0]) else hits[0]
print(eval(sys.argv[2]))
EOF
}

# well_formed FILE: what the format and our naming rules ask of the text.
# shellcheck disable=SC2317 # called through check
well_formed() {
	"$PY" - "$1" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
helps = {l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")}
types = {l.split()[2]: l.split()[3] for l in text.splitlines() if l.startswith("# TYPE ")}
fams = list(text_string_to_metric_families(text))
assert len(fams) >= 10, len(fams)
for m in fams:
    assert m.name.startswith("gmemfs_"), m.name
    assert m.type in ("gauge", "counter"), (m.name, m.type)
    for s in m.samples:
        assert s.value >= 0, s
        if m.type == "counter":
            assert s.name.endswith("_total"), s.name
assert helps == set(types), helps ^ set(types)
print(len(fams), "families")
EOF
}

opens() { metric "$1" 'v("gmemfs_requests_total", op="open")'; }

# --- work for the figures to show ---
check "write a 4 MiB file" dd if=/dev/urandom of="$M/data" bs=1M count=4 status=none
check "make a directory" mkdir "$M/dir"
check "make an empty file in it" touch "$M/dir/empty"

# --- the view ---
check "read .gmemfs/metrics" cp "$VIEW" "$T/view1"
check "the view parses, HELP and TYPE for each family, gmemfs_ names" well_formed "$T/view1"
check_eq "gmemfs_pool_budget_bytes is --pool-size" $((64 * MiB)) \
	"$(metric "$T/view1" 'v("gmemfs_pool_budget_bytes")')"
check_eq "the providers' use adds up to the pool's" \
	"$(metric "$T/view1" 'v("gmemfs_pool_used_bytes")')" \
	"$(metric "$T/view1" 'sum(s.value for s in fams["gmemfs_provider_used_bytes"].samples)' |
		cut -d. -f1)"
check_eq "used and free make the budget" $((64 * MiB)) \
	"$(metric "$T/view1" 'v("gmemfs_pool_used_bytes") + v("gmemfs_pool_free_bytes")')"
check "the 4 MiB written are counted as used" test \
	"$(metric "$T/view1" 'v("gmemfs_pool_used_bytes")')" -ge $((4 * MiB))
check_eq "shmem-4k is attached, with 4 KiB pages" "1 4096" \
	"$(metric "$T/view1" 'v("gmemfs_provider_available", provider="shmem-4k")') $(
		metric "$T/view1" 'v("gmemfs_provider_page_size_bytes", provider="shmem-4k")')"
check_eq "the mkdir was counted" 1 "$(metric "$T/view1" 'v("gmemfs_requests_total", op="mkdir")')"
check_eq "passthrough's flag agrees with stats" \
	"$(gm_stats 'int(d["passthrough"])')" "$(metric "$T/view1" 'v("gmemfs_passthrough")')"
check_eq "no lazy-restore session without a VMM" 0 "$(metric "$T/view1" 'v("gmemfs_lazy_sessions")')"
check_eq "the session families are there, empty" 0 \
	"$(metric "$T/view1" 'len(fams["gmemfs_lazy_session_faults"].samples)')"

# The open counter: two reads in a row tell what reading the view itself
# adds; ten opens between two more reads must add exactly ten to that.
cp "$VIEW" "$T/a" && cp "$VIEW" "$T/b"
for _ in 1 2 3 4 5 6 7 8 9 10; do
	cat "$M/dir/empty"
done
cp "$VIEW" "$T/c"
self=$(($(opens "$T/b") - $(opens "$T/a")))
check_eq "ten opens add ten to gmemfs_requests_total{op=\"open\"}" $((10 + self)) \
	$(($(opens "$T/c") - $(opens "$T/b")))

# --- snapshot figures: one snapshot and one restore that end well, one
# restore that is refused ---
snap() { metric "$1" "v(\"gmemfs_snapshot_$2\", $3)"; }
check_eq "no snapshot yet" "0 0" \
	"$(snap "$T/c" requests_total 'op="snapshot", result="ok"') $(
		snap "$T/c" last_success_timestamp_seconds 'op="snapshot"')"
check "gmemctl snapshot of the 4 MiB file" "$GMEMCTL" snapshot "$M/data" "$T/snap"
check "gmemctl restore into a new file" sh -c "touch '$M/copy' && '$GMEMCTL' restore '$T/snap' '$M/copy'"
check_fails "a restore into a file that holds memory is refused" "busy" \
	"$GMEMCTL" restore "$T/snap" "$M/data"
cp "$VIEW" "$T/s"
check "with snapshot figures the view still parses" well_formed "$T/s"
check_eq "one snapshot and one restore ended well, one restore did not" "1 0 1 1" \
	"$(snap "$T/s" requests_total 'op="snapshot", result="ok"') $(
		snap "$T/s" requests_total 'op="snapshot", result="error"') $(
		snap "$T/s" requests_total 'op="restore", result="ok"') $(
		snap "$T/s" requests_total 'op="restore", result="error"')"
check_eq "the snapshot wrote the file's 4 MiB" $((4 * MiB)) \
	"$(snap "$T/s" bytes_total 'op="snapshot"')"
check_eq "the restore read the 4 MiB back" $((4 * MiB)) "$(snap "$T/s" last_bytes 'op="restore"')"
check_eq "the snapshot counted 1024 pages" 1024 "$(snap "$T/s" pages_total 'op="snapshot"')"
check "its time is above 0 and its end within the last minute" "$PY" -c "
import sys, time
t, end = float(sys.argv[1]), float(sys.argv[2])
assert 0 < t < 60 and time.time() - 60 < end <= time.time() + 1, (t, end)" \
	"$(snap "$T/s" last_seconds 'op="snapshot"')" \
	"$(snap "$T/s" last_success_timestamp_seconds 'op="snapshot"')"

check_fails "the view is read-only" "Permission denied" sh -c ": >'$VIEW'"
check "anyone may read the view" gm_as_nobody cat "$VIEW"

# --- gmemctl metrics ---
check "gmemctl metrics MOUNT" "$GMEMCTL" metrics "$M"
"$GMEMCTL" metrics "$M" >"$T/ctl1" 2>&1
check "gmemctl's text parses by the same rules" well_formed "$T/ctl1"
check_eq "gmemctl gives the same families as the view" \
	"$(metric "$T/c" 'sorted(fams)')" "$(metric "$T/ctl1" 'sorted(fams)')"
# The same lines, values aside: the pieces the socket carries (4 KiB at
# most each, GMEMFS_CTL_TEXT_MAX) join without a byte lost or doubled.
names() { sed 's/ [^ ]*$//' "$1"; }
check "the text is longer than one piece" test "$(wc -c <"$T/ctl1")" -gt 4096
check_eq "gmemctl's text is the view's, line by line, values aside" \
	"$(names "$T/c")" "$(names "$T/ctl1")"
check_eq "gmemctl's budget is --pool-size" $((64 * MiB)) \
	"$(metric "$T/ctl1" 'v("gmemfs_pool_budget_bytes")')"
# The socket opens nothing through the mount: gmemctl's count is the
# view's last one plus what reading c added, and stays there.
cp "$VIEW" "$T/d"
"$GMEMCTL" metrics "$M" >"$T/ctl2" 2>&1
check_eq "gmemctl's open counter is the view's of the moment" "$(opens "$T/d")" "$(opens "$T/ctl2")"
(cd "$M/dir" && "$GMEMCTL" metrics) >"$T/ctl3" 2>&1
check "gmemctl metrics with no PATH, from a directory of the mount" well_formed "$T/ctl3"
check_fails "gmemctl metrics takes one PATH at most" "usage" "$GMEMCTL" metrics "$M" "$M"

gm_done

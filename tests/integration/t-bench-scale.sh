#!/bin/bash
#
# t-bench-scale: gm-scalebench does the work it reports, at two small
# populations against a real gmemfs mount and its own tmpfs: every
# operation ran every round on both, each batch did all its operations
# (stat saw the size given, getxattr the value set, readdir every file of
# the population), the table has a block per operation with a row per
# population, the growth summary and a reproduce line; the kill -9 and
# restart brought every file back, with the RSS and times reported, and
# the restarted gmemfsd stopped cleanly; nothing is left behind (files,
# its tmpfs, its scratch dir).  A population that cannot be made (a
# mount out of inodes) is reported as such, with the call and errno, and
# the larger ones are not run.  Run by meson in the 'bench' suite, with
# GM_BIN naming bench/'s build directory.  Not for: timings (never asserted).

# shellcheck disable=SC2119 # gm_start takes options, never this script's arguments
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
gm_start || gm_bail "gmemfsd mounts"
B=$GM_BIN/gm-scalebench
J=$GM_TMP/scale.json
ROUNDS=2
BATCH=20
restart="exec $(printf '%q ' "$GMEMFSD" -f --state-dir="$GM_STATE" "$GM_MNT")"
restart+=">>$(printf '%q' "$GM_LOG") 2>&1"

out=$(TMPDIR=$GM_TMP "$B" --mount "$GM_MNT" --files 50,200 --rounds $ROUNDS --batch $BATCH \
	--json "$J" --daemon-pid "$GM_PID" --restart-cmd "$restart" --restart-timeout 30 \
	2>"$GM_TMP/scale.err")
check_eq "a small run exits 0" 0 "$?"
printf '%s\n' "$out" | sed 's/^/#   /'
sed 's/^/#   stderr: /' "$GM_TMP/scale.err"
# gm-scalebench killed our gmemfsd, and stopped the one it restarted.
if gm_alive "$GM_PID"; then
	gm_fail "gm-scalebench killed gmemfsd for its restart"
	gm_stop TERM
else
	{ wait "$GM_PID"; } 2>/dev/null
	GM_PID=""
fi
check "the restarted gmemfsd unmounted when stopped" gm_poll 10 gm_unmounted

ops="create truncate fallocate open stat readdir rename unlink setxattr getxattr open-mmap"
for op in $ops; do
	block=$(sed -n "/^$op: /,/^\$/p" <<<"$out")
	check "the table has $op at 50 and 200 files, both file systems measured" \
		grep -qE "^ +200 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$" \
		<<<"$block"
	check "the growth summary has $op" grep -qE "^  $op +[0-9.]+x +[0-9.]+x +[0-9.]+x" <<<"$out"
done
check "the table shows the populate times" grep -q "^populate: " <<<"$out"
check "the table shows the restart" grep -q "^restart after kill -9 at 200 files:" <<<"$out"
check "stdout ends with the command that reproduces it" \
	grep -q "^reproduce: .*gm-scalebench --mount .* --files 50,200 --rounds $ROUNDS" <<<"$out"

# Every assertion on the JSON in one place; prints one line per failure.
judge() {
	python3 - "$J" "$ROUNDS" "$BATCH" "$ops" <<'EOF'
import json, sys

d = json.load(open(sys.argv[1]))
rounds, batch, ops = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()
bad = []
# Work each batch does: operations on existing files take at most the
# population; truncate and rename do two calls a file; readdir sees every file.
def want(op, n):
    if op == "readdir":
        return n
    k = batch if op in ("create", "unlink") else min(batch, n)
    return 2 * k if op in ("truncate", "rename") else k
pops = d["populations"]
if [p["files"] for p in pops] != [50, 200]:
    bad.append("populations %r" % [p["files"] for p in pops])
for p in pops:
    n = p["files"]
    if p["status"] != "measured":
        bad.append("%d: %s" % (n, p))
        continue
    for fs in ("gmemfs", "tmpfs"):
        pp = p["populate"][fs]
        if pp["error"] is not None or pp["seconds"] <= 0:
            bad.append("%d: populate %s: %r" % (n, fs, pp))
    if [o["op"] for o in p["ops"]] != ops:
        bad.append("%d: ops %r" % (n, [o["op"] for o in p["ops"]]))
    for o in p["ops"]:
        for fs in ("gmemfs", "tmpfs"):
            c = o[fs]
            if c["status"] != "measured" or len(c["samples"]) != rounds:
                bad.append("%d %s %s: %s" % (n, o["op"], fs, c))
                continue
            for s in c["samples"]:
                if s["check"] != want(o["op"], n) or not s["value"] > 0:
                    bad.append("%d %s %s: check %s (want %d), value %s" %
                               (n, o["op"], fs, s["check"], want(o["op"], n), s["value"]))
        if o["gmemfs_over_tmpfs"] is None:
            bad.append("%d %s: no ratio" % (n, o["op"]))
g = {x["op"]: x for x in d["growth"]}
for op in ops:
    if g.get(op, {}).get("gmemfs") is None or g[op].get("tmpfs") is None:
        bad.append("growth of %s: %r" % (op, g.get(op)))
r = d["restart"] or {}
if r.get("status") != "measured" or r.get("files") != 200 or r.get("files_back") != 200:
    bad.append("restart: %r" % r)
for k in ("rss_empty_kb", "rss_before_kill_kb", "rss_served_kb", "rss_after_walk_kb",
          "serve_ms", "walk_ms"):
    if not (r.get(k) or 0) > 0:
        bad.append("restart: %s = %r" % (k, r.get(k)))
if r.get("stop_status") != 0 or r.get("old_pid") == r.get("new_pid"):
    bad.append("restart: stop_status %r, PIDs %r %r" % (r.get("stop_status"),
               r.get("old_pid"), r.get("new_pid")))
print("\n".join(bad) if bad else "ok")
EOF
}
check_eq "the JSON shows every batch did its work, and every file came back" ok "$(judge)"
check_eq "no gm-scalebench scratch dir is left" "" \
	"$(find "$GM_TMP" -maxdepth 1 -name 'gm-scalebench.*')"
check_eq "no tmpfs of gm-scalebench is left mounted" "" "$(gm_mount_list | grep gm-scalebench)"

# The files it made are gone: start gmemfsd again and look.
gm_start || gm_bail "gmemfsd mounts again on the same state dir"
check_eq "nothing is left in the mount" "" \
	"$(find "$GM_MNT" -mindepth 1 -maxdepth 1 ! -name .gmemfs)"

# A population that cannot be made: a file system with 100 inodes, as
# gmemfsd out of fds or inodes would be.  The error names the call and
# errno, the population is reported failed, the larger one not run.
small=$GM_TMP/small
ENOSPC="No space left on device"
mkdir "$small" && mount -t tmpfs -o nr_inodes=100 tmpfs "$small"
out=$(TMPDIR=$GM_TMP "$B" --mount "$small" --files 20,500,1000 --rounds 1 --batch 5 \
	--json "$J" 2>"$GM_TMP/scale.err")
check_eq "a failed population makes the exit status 1" 1 "$?"
sed 's/^/#   stderr: /' "$GM_TMP/scale.err"
check "stderr names the population, the call and the errno" \
	grep -qE "populating gmemfs to 500 files failed: file [0-9]+ of 500: mknod .*: $ENOSPC" \
	"$GM_TMP/scale.err"
check "the table says 500 failed and 1000 was not run" \
	grep -qzE " 500 its population failed.* 1000 not run: the population of 500 files failed" \
	<<<"$out"
check "the 20-file population was measured" grep -qE "^ +20 +[0-9.]+ " <<<"$out"
check_eq "the JSON says so too" "measured skipped skipped null" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(p["status"] for p in d["populations"]), json.dumps(d["restart"]))' "$J")"
check_eq "the small file system is empty again" "" "$(find "$small" -mindepth 1)"
umount "$small"

check_fails "populations out of order are refused" "bad option --files 200,50" \
	"$B" --mount "$GM_MNT" --files 200,50
check_fails "a restart command without the daemon's PID is refused" \
	"--restart-cmd needs --daemon-pid" "$B" --mount "$GM_MNT" --restart-cmd true
gm_done

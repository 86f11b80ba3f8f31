#!/bin/bash
#
# t-gmemctl-ui: what a person sees of gmemctl.  Sizes in IEC units by
# default (whole numbers only when exact, else one decimal rounded to the
# nearest tenth, checked against a reference in Python), exact bytes with
# --bytes and --json; `top` bounded by -n; and the bash completion: it
# registers itself and completes commands, options, values and files.
# Not for: the commands' effects (t-ctl.sh, t-snapshot.sh, t-lazy.sh).

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
[[ -x ${GMEMCTL:-} ]] || { echo "GMEMCTL must name gmemctl (meson sets it)"; exit 1; }
G=$GMEMCTL

gm_start --pool-size=256M || gm_bail "gmemfsd mounts"
M=$GM_MNT

# iec BYTES: the size as gmemctl should print it (the reference).
iec() {
	python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
u = 0
while u < 6 and n >> (10 * (u + 1)):
    u += 1
if n % (1 << (10 * u)) == 0:
    print("%d %s" % (n >> (10 * u), units[u]))
else:
    t = (n * 10 + (1 << (10 * u)) // 2) >> (10 * u)
    if t >= 10240 and u < 6:
        u += 1
        t = (n * 10 + (1 << (10 * u)) // 2) >> (10 * u)
    print("%d.%d %s" % (t // 10, t % 10, units[u]))
PY
}
# jfield CMD... KEY: one key of gmemctl --json CMD's object.
jfield() {
	"$G" --json "${@:1:$#-1}" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "${*: -1}"
}
# stat_line ARGS... KEY: the value of "KEY:" in gmemctl ARGS stat's output.
stat_line() {
	"$G" "${@:1:$#-1}" | sed -n "s/^${*: -1}: *//p"
}

# --- sizes: units, rounding, exact ---
declare -A want=([b.ram]="1023 B" [c.ram]="1.5 KiB" [d.ram]="4.0 KiB" [e.ram]="1.0 MiB"
	[f.ram]="8 MiB" [g.ram]="11.8 MiB" [h.ram]="0 B")
declare -A bytes=([b.ram]=1023 [c.ram]=1536 [d.ram]=4097 [e.ram]=1048575
	[f.ram]=8388608 [g.ram]=12373197 [h.ram]=0)
for f in "${!bytes[@]}"; do
	truncate -s "${bytes[$f]}" "$M/$f"
	check_eq "stat: ${bytes[$f]} bytes print as ${want[$f]}" "${want[$f]}" \
		"$(stat_line stat "$M/$f" size)"
	check_eq "stat: the reference agrees for ${bytes[$f]}" "${want[$f]}" "$(iec "${bytes[$f]}")"
	check_eq "stat --bytes: ${bytes[$f]} exactly" "${bytes[$f]}" \
		"$(stat_line --bytes stat "$M/$f" size)"
	check_eq "--json stat: ${bytes[$f]} exactly" "${bytes[$f]}" "$(jfield stat "$M/$f" size)"
done
check_eq "stat: the page size in units" "$(iec "$(jfield stat "$M/f.ram" page_size)")" \
	"$(stat_line stat "$M/f.ram" 'page size')"
check_eq "ls: the size column in units" "8 MiB" \
	"$("$G" ls "$M" | awk '$NF == "f.ram" { print $5, $6 }')"
check_eq "ls --bytes: exact" 8388608 "$("$G" --bytes ls "$M" | awk '$NF == "f.ram" { print $5 }')"

head -c 1M /dev/urandom >"$M/used.ram"
for key in budget used free; do
	exact=$(jfield pool "$M" "$key")
	check_eq "pool: $key in units" "$(iec "$exact")" \
		"$("$G" pool "$M" | sed -n "1s/.*\b$key \([0-9.]* [KMGTPE]*i*B\).*/\1/p")"
	check_eq "pool --bytes: $key exactly" "$exact" \
		"$("$G" --bytes pool "$M" | sed -n "1s/.*\b$key \([0-9]*\).*/\1/p")"
done
check_eq "pool: the budget is 256 MiB" "budget 256 MiB" "$("$G" pool "$M" | awk 'NR == 1 { print $1, $2, $3 }')"
check "pool: each provider's page size in units" \
	grep -qE '^shmem-4k +4 KiB ' <("$G" pool "$M")

out=$("$G" snapshot "$M/used.ram" "$GM_TMP/s1" 2>&1)
check "snapshot: its figures in units" grep -q ": 1 MiB in 256 pages" <<<"$out"
out=$("$G" --bytes snapshot "$M/used.ram" "$GM_TMP/s2" 2>&1)
check "snapshot --bytes: exact" grep -q ": 1048576 in 256 pages" <<<"$out"
check_fails "--json and --bytes: usage" "usage" "$G" --bytes --nonsense pool "$M"

# --- top, bounded ---
out=$(timeout 20 "$G" --json top -n 2 -d 0.1 "$M")
check_eq "top -n 2 --json: two frames" 2 "$(grep -c . <<<"$out")"
check_eq "top --json: each frame has the exact budget and the files" \
	"$(jfield pool "$M" budget) True
$(jfield pool "$M" budget) True" \
	"$(python3 -c 'import json, sys
for l in sys.stdin:
    f = json.loads(l)
    print(f["pool"]["budget"], any(e["name"] == "f.ram" and e["size"] == 8388608 for e in f["entries"]))' <<<"$out")"
out=$(timeout 20 "$G" top -n 1 "$M")
check "top -n 1: the pool in units" grep -q "^budget 256 MiB" <<<"$out"
check "top -n 1: the files" grep -qE ' 8 MiB .* f\.ram$' <<<"$out"
check_fails "top -n 0: usage" "usage" "$G" top -n 0 "$M"

# --- bash completion ---
# shellcheck source=../../tools/gmemctl/gmemctl.bash-completion
source "$GM_SRC/../../tools/gmemctl/gmemctl.bash-completion"
check_eq "completion: registered for gmemctl" "complete -F _gmemctl gmemctl" "$(complete -p gmemctl)"
# completes WORD...: what completing the last word of "gmemctl WORD..." offers, sorted.
completes() {
	COMP_WORDS=(gmemctl "$@")
	COMP_CWORD=$#
	COMP_LINE="${COMP_WORDS[*]}"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_gmemctl 2>/dev/null
	printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd ' '
}
check_eq "completion: commands" "policy pool" "$(completes po)"
check_eq "completion: every command" \
	"discard exec ls metrics open-exec policy pool record-ws restore serve-uffd sessions snapshot stat top" "$(completes '')"
check_eq "completion: global options" "--bytes" "$(completes --by)"
check_eq "completion: after global options" "serve-uffd sessions snapshot stat" "$(completes --json s)"
check_eq "completion: policy's verbs" "get set" "$(completes policy '')"
check_eq "completion: policy values" "2m 2m-thp" "$(completes policy set "$M/f.ram" 2)"
check_eq "completion: a command's options" "--lazy" "$(completes restore --l)"
check_eq "completion: top's options" "-d -n" "$(completes top -)"
mkdir "$GM_TMP/comp"
: >"$GM_TMP/comp/snapA"
: >"$GM_TMP/comp/snapB"
check_eq "completion: paths as files" "$GM_TMP/comp/snapA $GM_TMP/comp/snapB" \
	"$(completes restore "$GM_TMP/comp/sn")"
check_eq "completion: paths after options" "$GM_TMP/comp/snapA" \
	"$(completes --socket=x restore --lazy "$GM_TMP/comp/snapA")"

rm -f "$GM_TMP/s1" "$GM_TMP/s1.idx" "$GM_TMP/s2" "$GM_TMP/s2.idx"
gm_done

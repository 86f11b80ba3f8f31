# shellcheck shell=bash
# Sourced by tools/install-deps.sh and tools/test-vm/kernel-cache.sh: which
# Debian archive this machine's apt configuration uses, so that the scripts
# that read another suite (trixie's libfuse source, the test guest's
# kernels) name the same archive and never one of their own.
# Not for: changing the machine's apt setup.

# Print the URI, then (if any) the Signed-By field as "Signed-By: ..." lines
# with its continuation lines (an inline key) kept, of the apt source that
# serves "$codename main" as binary packages.
# Debian's deb822 file first, then other deb822 files (but the file
# install-deps.sh writes, \$src_list, if set), then one-line lists.
derive_debian_source() {
	local codename=$1 f
	local -a d822=() oneline=()
	[[ -f /etc/apt/sources.list.d/debian.sources ]] &&
		d822+=(/etc/apt/sources.list.d/debian.sources)
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f && $f != */debian.sources && $f != "${src_list:-}" ]] && d822+=("$f")
	done
	[[ -f /etc/apt/sources.list ]] && oneline+=(/etc/apt/sources.list)
	for f in /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] && oneline+=("$f")
	done

	for f in "${d822[@]}"; do
		awk -v codename="$codename" '
			function word(list, w) {
				return (" " list " ") ~ ("[ \t]" w "[ \t]")
			}
			function flush() {
				if (!done && word(types, "deb") && word(suites, codename) &&
				    word(comps, "main") && tolower(enabled) != "no" && uris != "") {
					split(uris, u, /[ \t]+/)
					print u[1]
					if (signed != "")
						print signed
					done = 1
				}
				types = uris = suites = comps = signed = enabled = key = ""
			}
			/^#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ {
				if (key == "signed-by")
					signed = signed "\n" $0
				next
			}
			{
				i = index($0, ":")
				key = tolower(substr($0, 1, i - 1))
				v = substr($0, i + 1)
				sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
				if (key == "types") types = v
				else if (key == "uris") uris = v
				else if (key == "suites") suites = v
				else if (key == "components") comps = v
				else if (key == "signed-by") signed = "Signed-By:" (v == "" ? "" : " " v)
				else if (key == "enabled") enabled = v
			}
			END { flush() }
		' "$f" | grep . && return 0
	done
	for f in "${oneline[@]}"; do
		awk -v codename="$codename" '
			{ sub(/#.*/, "") }
			$1 != "deb" { next }
			{
				i = 2; opts = ""
				if ($2 ~ /^\[/) {
					opts = $2
					while (opts !~ /\]$/ && i < NF) { i++; opts = opts " " $i }
					i++
				}
				if ($(i + 1) != codename) next
				hasmain = 0
				for (j = i + 2; j <= NF; j++) if ($j == "main") hasmain = 1
				if (!hasmain) next
				print $i
				if (match(opts, /signed-by=[^] \t]+/))
					print "Signed-By: " substr(opts, RSTART + 10, RLENGTH - 10)
				exit
			}
		' "$f" | grep . && return 0
	done
	return 1
}

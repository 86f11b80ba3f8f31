#!/bin/bash
#
# t-dirscale: one large directory.  A listing of 20,000 names through the
# mount sees each name once while names ahead of it, behind it and the one
# it is about to read are unlinked and new ones are made; rm -r, which
# lists and unlinks in turns, empties it; and a file with thousands of
# xattrs keeps each one by name, in order, across a restart.  The daemon
# resumes a listing from a cursor and finds xattrs through an index, so
# none of this walks a list per call (issue 16); this test checks that
# what a user sees stays right while it does so.
# Not for: timing (bench/ has the scale scenarios).

# shellcheck disable=SC2317 # the functions below run through check
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
gm_init
gm_start --pool-size=256M || gm_bail "gmemfsd mounts"
M=$GM_MNT
N=20000

# Names are symlinks (no backing object each) and, every 100th, a file.
mkdir "$M/big" || gm_bail "mkdir big"
check "make $N names in one directory" python3 - "$M/big" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    p = os.path.join(d, "e%05d" % i)
    if i % 100 == 0:
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
    else:
        os.symlink("t%d" % i, p)
EOF
check_eq "ls sees all $N names" "$N" "$(find "$M/big" -mindepth 1 -maxdepth 1 -name 'e*' | wc -l)"

# os.scandir reads one entry per next(): the listing goes on between the
# changes.  Then: every name still there was seen exactly once (new ones
# too: they go at the end, after the cursor) and no name twice.
listing_survivors_once() {
	python3 - "$M/big" "$N" <<'EOF'
import collections, os, sys
d, n = sys.argv[1], int(sys.argv[2])
seen = collections.Counter()
removed = set()
made = 0
it = os.scandir(d)
for k, e in enumerate(it):
    seen[e.name] += 1
    if k in (2000, 9000, 15000):
        # ahead: every third name from a bit past here, behind: every
        # fifth already listed, and the very next ones
        for i in list(range(k + 300, n, 3)) + list(range(0, k, 5)) + [k + 1, k + 2]:
            name = "e%05d" % i
            if name in removed:
                continue
            try:
                os.unlink(os.path.join(d, name))
                removed.add(name)
            except FileNotFoundError:
                pass
        for j in range(50):
            os.symlink("new", os.path.join(d, "n%d-%d" % (k, j)))
            made += 1
it.close()
now = set(os.listdir(d))
bad = [x for x in now if seen[x] != 1]
twice = [x for x, c in seen.items() if c > 1]
print("listed", sum(seen.values()), "names; removed", len(removed), "made", made,
      "left", len(now))
if bad or twice:
    print("survivors not seen exactly once:", bad[:10], "seen twice:", twice[:10])
    sys.exit(1)
if len(now) != n - len(removed) + made:
    print("names left", len(now), "expected", n - len(removed) + made)
    sys.exit(1)
EOF
}
check "a listing with unlinks ahead, behind and next sees each survivor once" \
	listing_survivors_once

# seekdir back to a telldir position taken mid-listing lists the same
# names from there again.
seek_back_same() {
	python3 - "$M/big" <<'EOF'
import ctypes, ctypes.util, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.closedir.argtypes = [ctypes.c_void_p]
dp = libc.opendir(sys.argv[1].encode())
def take(k):
    out = []
    for _ in range(k):
        e = libc.readdir(dp)
        if not e:
            break
        out.append(e.contents.d_name)
    return out
take(5000)
pos = libc.telldir(dp)
first = take(3000)
take(4000)
libc.seekdir(dp, pos)
again = take(3000)
libc.closedir(dp)
if first != again or len(first) != 3000:
    print("after seekdir:", len(again), "names, first differs at",
          next((i for i, (a, b) in enumerate(zip(first, again)) if a != b), None))
    sys.exit(1)
EOF
}
check "seekdir to a telldir position lists the same names again" seek_back_same

check "rm -r empties and removes the large directory" rm -r "$M/big"
check "it is gone" test ! -e "$M/big"

# One file, many xattrs: set, replace, remove some, read each back.
X=4000
touch "$M/xa"
xattrs_ok() {
	python3 - "$M/xa" "$X" "$1" <<'EOF'
import os, sys
p, x, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if phase == "set":
    for i in range(x):
        os.setxattr(p, "user.v%d" % i, b"orig-%d" % i, os.XATTR_CREATE)
    for i in range(0, x, 2):
        os.setxattr(p, "user.v%d" % i, b"new-%d" % i, os.XATTR_REPLACE)
    for i in range(0, x, 3):
        os.removexattr(p, "user.v%d" % i)
want = ["user.v%d" % i for i in range(x) if i % 3]
names = [n for n in os.listxattr(p) if n.startswith("user.v")]
if names != want:
    print(phase, ": listxattr has", len(names), "names, want", len(want), "in set order")
    sys.exit(1)
for i in range(x):
    try:
        v = os.getxattr(p, "user.v%d" % i)
    except OSError:
        v = None
    w = None if i % 3 == 0 else (b"new-%d" % i if i % 2 == 0 else b"orig-%d" % i)
    if v != w:
        print(phase, ": user.v%d is %r, want %r" % (i, v, w))
        sys.exit(1)
EOF
}
check "$X xattrs on one file: set, replaced, removed, each read back" xattrs_ok set
check "stop" gm_stop TERM
check "restart" gm_start --pool-size=256M
check "after a restart the xattrs are all there, in order" xattrs_ok again

gm_done

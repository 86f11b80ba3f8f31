#!/usr/bin/env python3
"""gm-sys: make one system call and print "OK" or the errno name it failed with.

The integration tests use it to assert the exact errno a user gets for bad
input (EINVAL, EPERM, ENAMETOOLONG, EBUSY, ...) where shell tools only print
a message.  Usage: gm-sys.py OP ARGS...; exit 0 on success, 1 on an errno.
Not for: anything with more than one call.
"""
import errno
import os
import stat
import sys


def op_setxattr(path, name, value):
    os.setxattr(path, name, value.encode())


def op_getxattr(path, name):
    print(os.getxattr(path, name).decode(errors="replace"))


def op_removexattr(path, name):
    os.removexattr(path, name)


def op_truncate(path, size):
    os.truncate(path, int(size))


def op_create(path):
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))


def op_mkdir(path):
    os.mkdir(path)


def op_rmdir(path):
    os.rmdir(path)


def op_mknod(path, kind):
    kinds = {"fifo": stat.S_IFIFO, "sock": stat.S_IFSOCK,
             "chr": stat.S_IFCHR, "blk": stat.S_IFBLK}
    os.mknod(path, kinds[kind] | 0o644, os.makedev(1, 3))


def op_symlink(target, path):
    os.symlink(target, path)


def op_link(old, new):
    os.link(old, new)


def op_fallocate(path, offset, length):
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, int(offset), int(length))
    finally:
        os.close(fd)


def op_open(path, flags):
    """flags: O_ names joined by commas, e.g. O_WRONLY,O_APPEND."""
    mask = 0
    for name in flags.split(","):
        mask |= getattr(os, name)
    os.close(os.open(path, mask))


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in OPS:
        print("usage: gm-sys.py " + "|".join(sorted(OPS)) + " ARGS...", file=sys.stderr)
        return 2
    try:
        OPS[sys.argv[1]](*sys.argv[2:])
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

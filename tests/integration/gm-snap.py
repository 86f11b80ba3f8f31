#!/usr/bin/env python3
"""gm-snap: the file work of t-snapshot.sh that shell tools do badly.

  pages FILE PAGESIZE GEN DATA ZERO  write page i of DATA (comma-separated
                                     page numbers, or "-") with a pattern
                                     that depends on i and GEN, and page i
                                     of ZERO with zeros (allocating it)
  ranges FILE                        the file's data ranges (SEEK_DATA and
                                     SEEK_HOLE) as "start-end ..." in bytes
  flip FILE OFFSET                   flip one bit of the byte at OFFSET
  extents IDXFILE                    the index's extents as "off+len:type ..."
  v1 IDXFILE                         rewrite a version 2 index (one holding
                                     its working set's bytes) as the version
                                     1 index an older daemon wrote: the same
                                     extents and working set, no bytes

Not for: anything the daemon does; this only prepares and inspects files.
"""
import os
import struct
import sys


def page_numbers(arg):
    return [] if arg == "-" else [int(x) for x in arg.split(",")]


def pattern(i, gen, size):
    head = b"page %d gen %d " % (i, gen)
    fill = bytes(((i * 7 + gen * 13 + k) % 251) + 1 for k in range(256))
    body = head + fill * (size // len(fill) + 1)
    return body[:size]


def op_pages(path, page_size, gen, data, zero):
    size, gen = int(page_size), int(gen)
    fd = os.open(path, os.O_RDWR)
    for i in page_numbers(data):
        os.pwrite(fd, pattern(i, gen, size), i * size)
    for i in page_numbers(zero):
        os.pwrite(fd, bytes(size), i * size)
    os.close(fd)


def op_ranges(path):
    fd = os.open(path, os.O_RDONLY)
    end, pos, out = os.fstat(fd).st_size, 0, []
    while pos < end:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        pos = os.lseek(fd, start, os.SEEK_HOLE)
        out.append("%d-%d" % (start, pos))
    os.close(fd)
    print(" ".join(out) if out else "none")


def op_flip(path, offset):
    fd = os.open(path, os.O_RDWR)
    b = os.pread(fd, 1, int(offset))
    os.pwrite(fd, bytes([b[0] ^ 1]), int(offset))
    os.close(fd)


def op_extents(path):
    with open(path, "rb") as f:
        data = f.read()
    nr = struct.unpack_from("<Q", data, 40)[0]
    out = []
    for k in range(nr):
        off, length, typ, _ = struct.unpack_from("<QQII", data, 392 + 24 * k)
        out.append("%d+%d:%s" % (off, length, {1: "data", 2: "zero"}.get(typ, typ)))
    print(" ".join(out) if out else "none")


def crc32c(data):
    # Bitwise CRC-32C (reflected 0x82F63B78, ~0 in and out): slow, but
    # written apart from the daemon's, and an index is small.
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def op_v1(path):
    with open(path, "rb") as f:
        data = f.read()
    version, = struct.unpack_from("<I", data, 8)
    flags, = struct.unpack_from("<I", data, 32)
    nr_ext, nr_ws = struct.unpack_from("<QQ", data, 40)
    if version != 2 or not flags & 2:
        sys.exit("%s: version %d, flags %#x: not an index holding its working set's bytes"
                 % (path, version, flags))
    head = bytearray(data[:392 + 24 * nr_ext + 8 * nr_ws])
    struct.pack_into("<I", head, 8, 1)
    struct.pack_into("<I", head, 32, flags & ~2)
    struct.pack_into("<Q", head, 360, 0)
    with open(path, "wb") as f:
        f.write(bytes(head) + struct.pack("<I", crc32c(head)))


def main():
    ops = {"pages": op_pages, "ranges": op_ranges, "flip": op_flip, "extents": op_extents,
           "v1": op_v1}
    if len(sys.argv) < 2 or sys.argv[1] not in ops:
        sys.exit(__doc__)
    ops[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Where a GIF's bytes go: frames, local colour tables (how many of each size), image data and
extension blocks, read from the file's block structure (no decoding).

Usage: scripts/gif_blocks.py FILE.gif
"""

import sys


def sub_blocks(d, i):
    """The index just past the data sub-blocks starting at `i` (each a length byte and that many
    bytes, ended by a zero length)."""
    while d[i]:
        i += d[i] + 1
    return i + 1


def main():
    d = open(sys.argv[1], "rb").read()
    flags = d[10]
    i = 13
    global_table = 3 * (2 << (flags & 7)) if flags & 0x80 else 0
    i += global_table
    frames = local = image = ext = 0
    sizes = {}
    while i < len(d) and d[i] != 0x3B:
        if d[i] == 0x21:  # extension: introducer, label, sub-blocks
            start = i
            i = sub_blocks(d, i + 2)
            ext += i - start
        elif d[i] == 0x2C:  # image descriptor (10 bytes), local table, LZW data
            packed = d[i + 9]
            i += 10
            frames += 1
            if packed & 0x80:
                n = 3 * (2 << (packed & 7))
                local += n
                sizes[n // 3] = sizes.get(n // 3, 0) + 1
                i += n
            start = i
            i = sub_blocks(d, i + 1)
            image += i - start
        else:
            sys.exit(f"unexpected block 0x{d[i]:02x} at byte {i}")
    print(f"{len(d)} bytes, {frames} frames; global colour table {global_table} bytes; local colour "
          f"tables {local} bytes (entries: frames {dict(sorted(sizes.items()))}); image data "
          f"{image} bytes; extensions {ext} bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Keep one GPU architecture's machine code in a CUDA shared library; zero every other fatbin entry.

mlx-cuda-13's libmlx.so carries, in its .nv_fatbin section, one fatbin per CUDA source file, each with
zstd-compressed cubins for sm_75, 80, 90, 100, 120, 121 and PTX for compute_120 -- 67 MB that no compressor
shrinks.  A device (H100/H200: sm_90) loads only the cubin of its own architecture, so the others are
overwritten with zeros *in place*: every offset, size, header and relocation stays as it was, the library
keeps its exact size, and the zeros compress to nothing.  The result runs only on GPUs of the kept
architecture (sm_90: H100, H200, GH200); the script refuses a library in which some fatbin has no cubin
for it.

usage: fatbin_keep.py IN.so OUT.so [--arch 90] [--list]
"""
import argparse
import collections
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KIND = {1: "ptx", 2: "cubin"}


def sections(data):
    """{name: (offset, size)} of an ELF64 little-endian file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    out = {}
    for name, _typ, _flags, _addr, off, size in hdrs:
        end = data.index(b"\0", stroff + name)
        out[data[stroff + name:end].decode()] = (off, size)
    return out


def entries(data, off, size):
    """Every entry of every fatbin in [off, off+size): dict(blob, kind, arch, payload, size)."""
    p, end = off, off + size
    while p + 16 <= end:
        magic, _ver, hsz, fsz = struct.unpack_from("<IHHQ", data, p)
        if magic != FATBIN_MAGIC:
            p += 8          # fatbins are 8-byte aligned; skip padding
            continue
        q, qend = p + hsz, p + hsz + fsz
        while q < qend:
            kind, _u, ehs, esz = struct.unpack_from("<HHIQ", data, q)
            arch, = struct.unpack_from("<I", data, q + 28)
            if ehs == 0:
                raise SystemExit(f"malformed fatbin entry at {q:#x}")
            yield dict(blob=p, kind=kind, arch=arch, payload=q + ehs, size=esz)
            q += ehs + esz
        p = qend


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst", nargs="?")
    ap.add_argument("--arch", type=int, default=90)
    ap.add_argument("--list", action="store_true", help="print the entries per architecture and stop")
    a = ap.parse_args()
    data = bytearray(open(a.src, "rb").read())
    secs = sections(bytes(data))
    if ".nv_fatbin" not in secs:
        raise SystemExit(f"{a.src}: no .nv_fatbin section")
    off, size = secs[".nv_fatbin"]
    ents = list(entries(bytes(data), off, size))
    by, count, blobs, have = collections.Counter(), collections.Counter(), set(), set()
    for e in ents:
        k = f"{KIND.get(e['kind'], e['kind'])} sm_{e['arch']}"
        by[k] += e["size"]
        count[k] += 1
        blobs.add(e["blob"])
        if e["kind"] == 2 and e["arch"] == a.arch:
            have.add(e["blob"])
    print(f"{a.src}: .nv_fatbin {size / 1e6:.1f} MB, {len(blobs)} fatbins", file=sys.stderr)
    for k, v in sorted(by.items(), key=lambda x: -x[1]):
        print(f"  {k:12} {count[k]:4} entries {v / 1e6:7.2f} MB", file=sys.stderr)
    if a.list:
        return
    if not a.dst:
        ap.error("OUT.so is required")
    missing = blobs - have
    if missing:
        raise SystemExit(f"{len(missing)} of {len(blobs)} fatbins have no sm_{a.arch} cubin: refusing")
    zeroed = 0
    for e in ents:
        if not (e["kind"] == 2 and e["arch"] == a.arch):
            data[e["payload"]:e["payload"] + e["size"]] = bytes(e["size"])
            zeroed += e["size"]
    with open(a.dst, "wb") as f:
        f.write(data)
    print(f"kept the sm_{a.arch} cubins ({size / 1e6 - zeroed / 1e6:.1f} MB), zeroed {zeroed / 1e6:.1f} MB -> {a.dst}",
          file=sys.stderr)


if __name__ == "__main__":
    main()

"""Small image files of every kind vlmtune reads, written from the format specifications (GIF89a, PNG,
BMP, WebP RIFF containers) or by PIL, and ways to damage them.  Used by test_image_damage.py; the
expected pixels always come from PIL reading these files, never from vlmtune."""
import io
import struct
import zlib

import numpy as np
from PIL import Image


def photo(w, h, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(x / 7.0 + seed), 128 + 100 * np.cos(y / 5.0), (x * 3 + y) % 256], -1)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


# ------------------------------------------------------------------------------------------------ GIF --

def lzw(indices, min_code_size):
    """GIF LZW: variable-length codes, LSB first, a clear code first and whenever the table fills."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    size, table, nxt = min_code_size + 1, {bytes([i]): i for i in range(clear)}, end + 1
    out, acc, bits = bytearray(), 0, 0

    def emit(code):
        nonlocal acc, bits
        acc |= code << bits
        bits += size
        while bits >= 8:
            out.append(acc & 255)
            acc >>= 8
            bits -= 8

    emit(clear)
    w = b""
    for k in indices:
        if w + bytes([k]) in table:
            w += bytes([k])
            continue
        emit(table[w])
        if nxt < 4096:
            table[w + bytes([k])] = nxt
            nxt += 1
            if nxt - 1 == 1 << size and size < 12:
                size += 1
        else:
            emit(clear)
            size, table, nxt = min_code_size + 1, {bytes([i]): i for i in range(clear)}, end + 1
        w = bytes([k])
    if w:
        emit(table[w])
    emit(end)
    if bits:
        out.append(acc & 255)
    return bytes(out)


def _sub_blocks(data):
    return b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255)) + b"\0"


def _palette(colors):
    n = 2
    while n < len(colors):
        n *= 2
    return b"".join(bytes(c) for c in colors) + bytes(3 * (n - len(colors))), n.bit_length() - 2


def gif(width, height, frames, global_palette=None):
    """frames: dicts of x, y, w, h, indices, and optionally palette, transparency, interlace."""
    out = bytearray(b"GIF89a" + struct.pack("<HH", width, height))
    flags, table = 0, b""
    if global_palette is not None:
        table, bits = _palette(global_palette)
        flags = 0x80 | bits
    out += bytes([flags, 0, 0]) + table
    for f in frames:
        if f.get("transparency") is not None:
            out += b"\x21\xf9\x04\x01\x00\x00" + bytes([f["transparency"]]) + b"\x00"
        dflags, local = 0, b""
        if f.get("palette") is not None:
            local, bits = _palette(f["palette"])
            dflags = 0x80 | bits
        idx = list(f["indices"])
        if f.get("interlace"):
            dflags |= 0x40
            rows = [idx[r * f["w"]:(r + 1) * f["w"]] for r in range(f["h"])]
            order = [*range(0, f["h"], 8), *range(4, f["h"], 8), *range(2, f["h"], 4), *range(1, f["h"], 2)]
            idx = [p for r in order for p in rows[r]]
        out += b"," + struct.pack("<HHHH", f["x"], f["y"], f["w"], f["h"]) + bytes([dflags]) + local
        mcs = max(2, max(idx).bit_length())
        out += bytes([mcs]) + _sub_blocks(lzw(idx, mcs))
    return bytes(out + b";")


def gif_files(rng):
    files = []
    colors = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(16)]
    for k in range(12):
        w, h = int(rng.integers(1, 20)), int(rng.integers(1, 16))
        sw, sh = w + int(rng.integers(0, 5)), h + int(rng.integers(0, 5))
        x, y = int(rng.integers(0, sw - w + 1)), int(rng.integers(0, sh - h + 1))
        if k % 5 == 0:
            x += 3  # the frame reaches past the screen: PIL grows the canvas
        n = int(rng.integers(2, 17))
        idx = rng.integers(0, n, w * h)
        if k % 4 == 0:
            idx[rng.integers(0, w * h, 2)] = 200  # past the palette
        frame = dict(x=x, y=y, w=w, h=h, indices=idx.tolist(), interlace=k % 3 == 0,
                     transparency=int(rng.integers(0, n)) if k % 4 == 1 else None)
        glob = colors[:n] if k % 6 != 1 else None
        if k % 6 in (1, 2):
            frame["palette"] = colors[::-1][:n]
        if k == 7:
            glob = [(i, i, i) for i in range(16)]  # an identity palette: PIL opens the frame as greyscale
        frames = [frame] + ([dict(x=0, y=0, w=1, h=1, indices=[1])] if k % 2 else [])
        files.append((f"gif-{k}", gif(sw, sh, frames, glob)))
    files.append(("gif-pil", pil_bytes(Image.fromarray(photo(40, 30)).convert("P", palette=Image.ADAPTIVE), "GIF")))
    return files


# ------------------------------------------------------------------------------------------------ PNG --

def png_chunk(cid, data, crc=None):
    crc = zlib.crc32(cid + data) if crc is None else crc
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", crc & 0xFFFFFFFF)


def _pack_row(values, bits):
    if bits == 8:
        return bytes(values)
    if bits == 16:
        return b"".join(struct.pack(">H", v) for v in values)
    out, acc, n = bytearray(), 0, 0
    for v in values:
        acc, n = acc << bits | v, n + bits
        if n == 8:
            out.append(acc)
            acc = n = 0
    if n:
        out.append(acc << (8 - n))
    return bytes(out)


def _filtered(row, prev, ftype, bpp):
    out = bytearray(len(row))
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i] if prev else 0
        c = prev[i - bpp] if prev and i >= bpp else 0
        if ftype == 1:
            pred = a
        elif ftype == 2:
            pred = b
        elif ftype == 3:
            pred = (a + b) // 2
        elif ftype == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
        else:
            pred = 0
        out[i] = (row[i] - pred) & 255
    return bytes([ftype]) + bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(samples, depth, ctype, interlace=False, rng=None, palette=None, idat_size=None, before=(), after=(), trns=None):
    """samples: [h, w, channels] ints; rows filtered with random filter types."""
    h, w, ch = samples.shape
    bpp = max(1, depth * ch // 8)
    raw = bytearray()
    for x0, y0, dx, dy in (ADAM7 if interlace else [(0, 0, 1, 1)]):
        sub, prev = samples[y0::dy, x0::dx], None
        if sub.size == 0:
            continue
        for r in sub:
            row = _pack_row([int(v) for v in r.reshape(-1)], depth)
            raw += _filtered(row, prev, int(rng.integers(0, 5)) if rng is not None else 0, bpp)
            prev = row
    data = zlib.compress(bytes(raw))
    chunks = [png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0)), *before]
    if palette is not None:
        chunks.append(png_chunk(b"PLTE", palette))
    if trns is not None:
        chunks.append(png_chunk(b"tRNS", trns))
    step = idat_size or len(data)
    chunks += [png_chunk(b"IDAT", data[i:i + step]) for i in range(0, len(data), step)]
    chunks += [*after, png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def exif_orientation(o):
    e = Image.Exif()
    e[0x0112] = o
    return e.tobytes()


def png_files(rng):
    kinds = [(1, 0), (2, 0), (4, 0), (8, 0), (16, 0), (8, 2), (16, 2), (1, 3), (2, 3), (4, 3), (8, 3), (8, 4),
             (16, 4), (8, 6), (16, 6)]
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
    files = []
    for k, (depth, ctype) in enumerate(kinds + kinds[5:11]):
        w, h = int(rng.integers(1, 18)), int(rng.integers(1, 12))
        samples = rng.integers(0, 1 << depth, (h, w, channels[ctype]))
        palette = None
        if ctype == 3:
            n = int(rng.integers(1, min(256, 1 << depth) + 1))
            palette = bytes(rng.integers(0, 256, 3 * n).astype(np.uint8))
        before, after = [], []
        if k % 4 == 1:
            before.append(png_chunk(b"eXIf", exif_orientation(int(rng.integers(2, 9)))))
        if k % 4 == 2:  # EXIF after the image data: PIL reads it too
            after.append(png_chunk(b"eXIf", exif_orientation(int(rng.integers(2, 9)))))
        if k % 5 == 3:
            xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="%d"/></x:xmpmeta>' % int(rng.integers(2, 9))
            before.append(png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))
        if k % 6 == 4:
            before.append(png_chunk(b"zTXt", b"Title\0\0" + zlib.compress(b"a title")))
            after.append(png_chunk(b"tEXt", b"Comment\0hello"))
        trns = None
        if k % 3 == 2:  # transparency: an alpha per palette entry, or the transparent grey or RGB value
            if ctype in (0, 2):
                trns = struct.pack(f">{channels[ctype]}H", *map(int, samples[0, 0]))
            elif ctype == 3:
                trns = bytes(rng.integers(0, 256, len(palette) // 3).astype(np.uint8))
        files.append((f"png-{depth}bit-type{ctype}-{k}" + ("-trns" if trns else ""),
                      png(samples, depth, ctype, interlace=k % 2 == 1, rng=rng, palette=palette, trns=trns,
                          idat_size=int(rng.integers(7, 50)) if k % 3 == 0 else None, before=before, after=after)))
    files.append(("png-pil", pil_bytes(Image.fromarray(photo(30, 20)), "PNG")))
    return files


# ------------------------------------------------------------------------------------------------ BMP --

def bmp(w, h, bits, rows, compression=0, palette=b"", header_size=40, masks=None, colors=0, offset=None,
        top_down=False):
    """rows: the file's rows (unpadded), or for RLE the whole run-length stream as one row."""
    stride = ((w * bits + 31) >> 3) & ~3
    pixels = b"".join(rows) if compression in (1, 2) else b"".join(r.ljust(stride, b"\0") for r in rows)
    if header_size == 12:
        header = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        header = struct.pack("<IiIHHIIiiII", header_size, w, 2**32 - h if top_down else h, 1, bits, compression,
                             len(pixels), 2835, 2835, colors, 0)
        if header_size > 40:
            header += struct.pack("<IIII", *(list(masks or ()) + [0] * 4)[:4])[: header_size - 40]
            header = header.ljust(header_size, b"\0")
    mask_bytes = b"".join(struct.pack("<I", m) for m in masks[:3]) if masks and header_size == 40 else b""
    start = 14 + len(header) + len(mask_bytes) + len(palette) if offset is None else offset
    body = header + mask_bytes + palette
    body += bytes(max(0, start - 14 - len(body))) + pixels
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, start) + body


def _rle(rng, w, h, rle4):
    out = bytearray()
    for _ in range(h):
        x = 0
        while x < w:
            if not rle4 and rng.integers(0, 3) == 0 and w - x >= 3:  # absolute run
                n = int(rng.integers(3, min(w - x, 20) + 1))
                out += bytes([0, n]) + bytes(rng.integers(0, 8, n).astype(np.uint8)) + (b"\0" if n % 2 else b"")
            else:
                n = int(rng.integers(1, min(w - x, 30) + 1))
                out += bytes([n, int(rng.integers(0, 256 if rle4 else 8))])
            x += n
        out += b"\0\0"
    return bytes(out + b"\0\1")


def bmp_files(rng):
    files = []
    for k in range(24):
        bits = [1, 4, 8, 16, 24, 32][k % 6]
        header_size = [40, 124, 12, 56, 108, 40][(k // 6) % 6]
        if header_size == 12 and bits in (16, 32):
            header_size = 40
        w, h = int(rng.integers(1, 20)), int(rng.integers(1, 10))
        compression, masks, palette, colors = 0, None, b"", 0
        if bits <= 8:
            n = 1 << bits
            entry = 3 if header_size == 12 else 4
            kind = (k // 3) % 3
            grey = [(i, i, i) for i in range(n)]  # PIL reads such a palette as greyscale rows
            bw = [(0, 0, 0), (255, 255, 255)]
            entries = grey if kind == 0 else bw if kind == 1 and n == 2 else \
                [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(n)]
            palette = b"".join(bytes([b, g, r] + [0] * (entry - 3)) for r, g, b in entries)
            values = rng.integers(0, 1 << bits, (h, w))
            rows = [_pack_row([int(v) for v in r], bits) for r in values]
            if bits in (4, 8) and k % 4 == 3 and header_size != 12:
                compression = 1 if bits == 8 else 2
                rows = [_rle(rng, w, h, bits == 4)]
        else:
            if bits == 16 and k % 2:
                compression, masks = 3, (0xF800, 0x7E0, 0x1F)
            if bits == 32 and k % 3:
                compression, masks = 3, [(0xFF, 0xFF00, 0xFF0000, 0xFF000000), (0xFF000000, 0xFF00, 0xFF, 0xFF0000)][k % 2]
                header_size = max(header_size, 56)
            rows = [bytes(rng.integers(0, 256, bits // 8 * w).astype(np.uint8)) for _ in range(h)]
        offset = 14 + header_size if k % 8 == 5 and bits <= 8 else None  # PIL then skips the palette
        quirk = "-grey-palette-read-as-8-bit" if bits < 8 and palette and kind == 0 else ""  # PIL may refuse these
        files.append((f"bmp-{bits}bit-h{header_size}-c{compression}-{k}{quirk}",
                      bmp(w, h, bits, rows, compression, palette, header_size, masks, colors, offset, top_down=k % 5 == 2)))
    files.append(("bmp-pil-p", pil_bytes(Image.fromarray(photo(30, 20)).convert("P", palette=Image.ADAPTIVE), "BMP")))
    files.append(("bmp-pil-rgba", pil_bytes(Image.fromarray(photo(30, 20)).convert("RGBA"), "BMP")))
    return files


# ----------------------------------------------------------------------------------------------- WebP --

def _riff_chunks(data):
    pos, out = 12, []
    while pos + 8 <= len(data):
        cid, n = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        out.append((cid, data[pos + 8:pos + 8 + n]))
        pos += 8 + n + (n & 1)
    return out


def _riff_chunk(cid, body):
    return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def webp_animated(still, canvas, offset, size, xmp=None):
    """An animated WebP whose first frame is `still`'s image at `offset` on a larger canvas."""
    u24 = lambda v: struct.pack("<I", v)[:3]  # noqa: E731
    frame = b"".join(_riff_chunk(c, b) for c, b in _riff_chunks(still) if c in (b"VP8 ", b"VP8L", b"ALPH"))
    body = _riff_chunk(b"VP8X", bytes([0x12 | (0x04 if xmp else 0), 0, 0, 0]) + u24(canvas[0] - 1) + u24(canvas[1] - 1))
    body += _riff_chunk(b"ANIM", b"\xff\xff\xff\xff\0\0")
    for x, y in (offset, (0, 0)):
        body += _riff_chunk(b"ANMF", u24(x // 2) + u24(y // 2) + u24(size[0] - 1) + u24(size[1] - 1) + u24(100) + b"\0" + frame)
    if xmp:
        body += _riff_chunk(b"XMP ", xmp)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def webp_files(rng):
    files = []
    for k in range(10):
        w, h = int(rng.integers(1, 28)), int(rng.integers(1, 20))
        rgb = photo(w, h, k)
        rgba = Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (h, w)).astype(np.uint8)]))
        base = Image.fromarray(rgb)
        options = [("lossy", base, dict(quality=80)), ("lossless", base, dict(lossless=True)),
                   ("lossy-alpha", rgba, dict(quality=70)), ("lossless-alpha", rgba, dict(lossless=True, exact=True)),
                   ("exif", base, dict(quality=80, exif=exif_orientation(int(rng.integers(2, 9)))))]
        name, img, kw = options[k % 5]
        still = pil_bytes(img, "WEBP", **kw)
        files.append((f"webp-{name}-{k}", still))
        x, y = 2 * int(rng.integers(0, 4)), 2 * int(rng.integers(0, 4))
        xmp = b'<x tiff:Orientation="%d"/>' % int(rng.integers(2, 9)) if k % 3 == 0 else None
        files.append((f"webp-animated-{k}", webp_animated(still, (w + x + 1, h + y), (x, y), (w, h), xmp)))
    return files


# ----------------------------------------------------------------------------------------------- JPEG --

def jpeg_files(rng):
    files = []
    for k in range(10):
        w, h = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        base = Image.fromarray(photo(w, h, k))
        kw = [dict(quality=85), dict(quality=90, progressive=True), dict(quality=95, subsampling=0),
              dict(quality=70, subsampling=1), dict(quality=85, restart_marker_blocks=2)][k % 5]
        files.append((f"jpeg-{k}", pil_bytes(base, "JPEG", **kw)))
        if k % 3 == 0:
            files.append((f"jpeg-grey-{k}", pil_bytes(base.convert("L"), "JPEG", quality=85)))
        if k % 3 == 1:
            files.append((f"jpeg-cmyk-{k}", pil_bytes(base.convert("CMYK"), "JPEG", quality=85, progressive=k % 2 == 0)))
        if k % 4 == 2:
            dpi = dict(dpi=(72, 72)) if k % 8 == 2 else {}  # with a JFIF resolution PIL reads the EXIF later
            files.append((f"jpeg-exif-{k}", pil_bytes(base, "JPEG", quality=85, exif=exif_orientation(int(rng.integers(2, 9))),
                                                      **dpi)))
        if k % 4 == 3:
            xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="%d"/></x:xmpmeta>' % int(rng.integers(2, 9))
            files.append((f"jpeg-xmp-{k}", pil_bytes(base, "JPEG", quality=85, xmp=xmp)))
    return files


# ------------------------------------------------------------------------------------------- damage --

def truncations(data, rng, n):
    """n cut lengths: the first bytes, the last bytes, and some in between."""
    cuts = {0, 1, 5, 13, len(data) - 1, len(data) - 2, len(data) - 4, len(data) - 8, len(data) - 12}
    while len(cuts) < n and len(cuts) < len(data):
        cuts.add(int(rng.integers(0, len(data))))
    return sorted(c for c in cuts if 0 <= c < len(data))


def corrupt(data, rng):
    """A random cut, bit flip, byte change, insertion or deletion (1 to 4 of them)."""
    d = bytearray(data)
    kind = int(rng.integers(0, 5))
    if kind == 0:
        return bytes(d[:int(rng.integers(0, len(d)))])
    for _ in range(int(rng.integers(1, 5))):
        if not d:
            break
        i = int(rng.integers(0, len(d)))
        if kind == 1:
            d[i] ^= 1 << int(rng.integers(0, 8))
        elif kind == 2:
            d[i] = int(rng.integers(0, 256))
        elif kind == 3:
            d[i:i] = bytes(rng.integers(0, 256, int(rng.integers(1, 4))).astype(np.uint8))
        else:
            del d[i:i + int(rng.integers(1, 4))]
    return bytes(d)


def corrupt_png(data, rng):
    """A change inside one chunk (its CRC recomputed, so PIL's later checks are reached), a chunk dropped,
    duplicated or inserted; IDAT CRCs, which PIL does not check, sometimes left wrong."""
    pos, chunks = 8, []
    while pos + 8 <= len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        chunks.append([data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]])
        pos += 12 + n
    k = int(rng.integers(0, len(chunks)))
    kind = int(rng.integers(0, 5))
    if kind == 0 and chunks[k][1]:
        body = bytearray(chunks[k][1])
        body[int(rng.integers(0, len(body)))] = int(rng.integers(0, 256))
        chunks[k][1] = bytes(body)
    elif kind == 1:
        chunks[k][1] = chunks[k][1][:int(rng.integers(0, len(chunks[k][1]) + 1))]
    elif kind == 2:
        del chunks[k]
    elif kind == 3:
        chunks.insert(k, list(chunks[int(rng.integers(0, len(chunks)))]))
    else:
        names = [b"IHDR", b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"iCCP",
                 b"eXIf", b"acTL", b"fcTL", b"IDAT", b"IEND", b"abCD"]
        chunks.insert(k, [names[int(rng.integers(0, len(names)))], bytes(rng.integers(0, 256, int(rng.integers(0, 30))).astype(np.uint8))])
    keep_idat_crc = rng.integers(0, 4) == 0
    out = bytearray(data[:8])
    for cid, body in chunks:
        out += png_chunk(cid, body, 0 if keep_idat_crc and cid == b"IDAT" else None)
    return bytes(out)


def corrupt_jpeg(data, rng):
    """A marker segment inserted (JFIF, Exif, Adobe, ICC, Photoshop, tables, unknown codes), a segment
    length changed, a segment body byte changed, or a segment duplicated."""
    i, segments = 2, []
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], data[i + 2] << 8 | data[i + 3]
        segments.append((i, 2 + length))
        if marker == 0xDA:
            break
        i += 2 + length
    d = bytearray(data)
    at, n = segments[int(rng.integers(0, len(segments)))]
    kind = int(rng.integers(0, 4))
    if kind == 0:
        marker = int(rng.choice([0xE0, 0xE1, 0xE2, 0xED, 0xEE, 0xFE, 0xDB, 0xC4, 0xDD, 0x01, 0xBF, 0xF0, 0xD9]))
        body = bytes(rng.integers(0, 256, int(rng.integers(0, 30))).astype(np.uint8))
        body = {0xE0: b"JFIF\0", 0xE1: b"Exif\0\0II*\0", 0xE2: b"ICC_PROFILE\0", 0xED: b"Photoshop 3.0\x008BIM",
                0xEE: b"Adobe"}.get(marker, b"") + body[:int(rng.integers(0, 12))]
        segment = bytes([0xFF, marker]) + (b"" if marker in (0x01, 0xD9, 0xF0) else struct.pack(">H", len(body) + 2) + body)
        return bytes(d[:at] + segment + d[at:])
    if kind == 1 and n > 2:
        d[at + 2:at + 4] = struct.pack(">H", int(rng.integers(0, n + 20)))
    elif kind == 2 and n > 4:
        d[at + 4 + int(rng.integers(0, n - 4))] = int(rng.integers(0, 256))
    else:
        return bytes(d[:at] + d[at:at + n] + d[at:])
    return bytes(d)

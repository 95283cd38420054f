"""Damaged images: vlmtune refuses exactly the files PIL refuses, and decodes the others to PIL's pixels.

Reference: PIL 12.3's Image.open(path), ImageOps.exif_transpose, convert("RGB") — what mlx-vlm's and
transformers' load_image do.  A file is refused when that raises.  vlmtune: `vlmtune image --decode-only
--rgb-out`, exit status 1 with the file named in the message when it refuses.

Files of every kind vlmtune reads (image_files.py: PNG of every bit depth and colour type, interlaced or
not, with EXIF/XMP before or after the image data; GIF frames smaller than or past the screen, local and
global palettes, transparency, interlacing; BMP of every depth and header, bit fields, RLE; WebP lossy,
lossless, with alpha, animated with an offset frame; JPEG baseline, progressive, grey, CMYK, YCCK, EXIF and
XMP orientations), then the same files cut short at sampled lengths and corrupted at random (a fixed seed,
and for PNG and JPEG also inside chunks and marker segments, past the checks PIL makes first).
Every case must agree: both refuse, or both decode to identical pixels (no tolerance).
"""
import os
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
import image_files as F  # noqa: E402

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
SEEDS = ROOT / "tests" / "fuzz" / "seeds" / "image"
CUTS_PER_FILE, CORRUPTIONS_PER_FORMAT = 16, 300

warnings_filter = pytest.mark.filterwarnings("ignore")  # PIL warns on some damaged files (bad EXIF, bombs)


def reference(path):
    try:
        with Image.open(path) as im:
            return np.array(ImageOps.exif_transpose(im).convert("RGB"))
    except Exception as e:  # noqa: BLE001 — any exception is PIL refusing the file
        return f"{type(e).__name__}: {e}"


def vlmtune(path, out_dir):
    out = Path(out_dir) / (Path(path).name + ".rgb.safetensors")
    r = subprocess.run([CLI, "image", "--image", str(path), "--decode-only", "--rgb-out", str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        assert r.returncode == 1 and str(path) in r.stderr, f"{path}: exit {r.returncode}, {r.stderr!r}"
        return r.stderr.strip()
    import mlx.core as mx
    return np.array(mx.load(str(out))["rgb"])


def verdict(ref, got):
    if isinstance(ref, str) and isinstance(got, str):
        return None
    if isinstance(ref, str):
        return f"PIL refuses ({ref[:120]}) but vlmtune decodes it"
    if isinstance(got, str):
        return f"PIL decodes it but vlmtune refuses: {got[:200]}"
    if ref.shape != got.shape:
        return f"shape {got.shape}, PIL {ref.shape}"
    if not np.array_equal(ref, got):
        return f"pixels differ from PIL's by up to {int(np.abs(ref.astype(int) - got).max())} levels"
    return None


def check_all(cases, tmp_path):
    """cases: (label, bytes).  Runs both readers on each; returns (mismatches, labels both refused, decoded)."""
    paths = []
    for i, (label, data) in enumerate(cases):
        p = tmp_path / f"case{i}.img"
        p.write_bytes(data)
        paths.append((label, p))
    with ThreadPoolExecutor(2) as pool:
        ours = list(pool.map(lambda lp: vlmtune(lp[1], tmp_path), paths))
    bad, refused, decoded = [], [], 0
    for (label, p), got in zip(paths, ours):
        ref = reference(p)
        if isinstance(ref, str):
            refused.append(label)
        decoded += not isinstance(ref, str)
        problem = verdict(ref, got)
        if problem:
            bad.append(f"{label}: {problem}")
    return bad, refused, decoded


FORMATS = {"png": F.png_files, "gif": F.gif_files, "bmp": F.bmp_files, "webp": F.webp_files, "jpeg": F.jpeg_files}


def files_of(fmt):
    files = FORMATS[fmt](np.random.default_rng(sum(map(ord, fmt))))
    if fmt == "jpeg":  # CMYK and YCCK written by libjpeg (PIL cannot write YCCK)
        files += [(f"jpeg-{p.stem}", p.read_bytes()) for p in sorted(SEEDS.glob("*.jpg"))]
    return files


@warnings_filter
@pytest.mark.parametrize("fmt", FORMATS)
def test_whole_files_decode_as_pil(fmt, tmp_path):
    files = files_of(fmt)
    bad, refused, decoded = check_all(files, tmp_path)
    print(f"{fmt}: {decoded} files decoded bit for bit as PIL, {len(refused)} refused by both")
    assert not bad, "\n".join(bad)
    # only BMPs PIL reads with 8-bit rows narrower than the file's may be refused (a quirk kept on purpose)
    assert all("read-as-8-bit" in name for name in refused), refused


@warnings_filter
@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_files_refused_as_pil_refuses(fmt, tmp_path):
    rng = np.random.default_rng(7)
    cases = [(f"{name} cut at {n}/{len(data)}", data[:n]) for name, data in files_of(fmt)
             for n in F.truncations(data, rng, CUTS_PER_FILE)]
    bad, refused, decoded = check_all(cases, tmp_path)
    print(f"{fmt}: {len(cases)} truncated files, {len(refused)} refused by both, {decoded} decoded by both identically")
    assert not bad, "\n".join(bad)


@warnings_filter
@pytest.mark.parametrize("fmt", FORMATS)
def test_corrupt_files_agree_with_pil(fmt, tmp_path):
    rng = np.random.default_rng(11)
    files = files_of(fmt)
    aware = {"png": F.corrupt_png, "jpeg": F.corrupt_jpeg}.get(fmt)
    cases = []
    for k in range(CORRUPTIONS_PER_FORMAT):
        name, data = files[k % len(files)]
        damage = aware if aware and k % 2 else F.corrupt
        cases.append((f"{name} damaged #{k} ({damage.__name__})", damage(data, rng)))
    bad, refused, decoded = check_all(cases, tmp_path)
    print(f"{fmt}: {len(cases)} corrupted files, {len(refused)} refused by both, {decoded} decoded by both identically")
    assert not bad, "\n".join(bad)
    assert refused and decoded > 0  # the damage reaches both outcomes


@warnings_filter
def test_regression_seeds(tmp_path):
    """Fuzzer finds kept as seeds: the same verdict as PIL, each within a second (the GIFs with huge frames
    once took seconds: they are refused from the header, as PIL refuses them)."""
    for p in sorted(SEEDS.iterdir()):
        start = time.perf_counter()
        got = vlmtune(p, tmp_path)
        took = time.perf_counter() - start
        problem = verdict(reference(p), got)
        assert problem is None, f"{p.name}: {problem}"
        assert took < 1.0, f"{p.name}: {took:.2f} s"
    huge = vlmtune(SEEDS / "slow-gif-huge-frame.gif", tmp_path)
    assert "44752×54281 = 2429183312 pixels, above the limit of 178956970" in huge, huge


def test_truncated_gif_no_longer_accepted(tmp_path):
    """The case that read uninitialised memory: LZW data cut inside the frame."""
    data = F.gif(8, 6, [dict(x=0, y=0, w=8, h=6, indices=list(range(48)))], [(i, 2 * i, 3 * i) for i in range(64)])
    p = tmp_path / "cut.gif"
    p.write_bytes(data[:-8])
    assert isinstance(reference(p), str)
    got = vlmtune(p, tmp_path)
    assert isinstance(got, str) and "truncated GIF" in got, got


def test_errors_name_their_cause(tmp_path):
    def fails(path, fragment):
        r = subprocess.run([CLI, "image", "--image", str(path)], capture_output=True, text=True)
        assert r.returncode == 1 and fragment in r.stderr, r.stderr
        return r.stderr

    fails(tmp_path, f"{tmp_path}: is a directory, not an image file")
    fails(tmp_path / "missing.jpg", "missing.jpg: image file not found (No such file or directory)")
    (tmp_path / "file").write_bytes(b"x")
    fails(tmp_path / "file" / "x.png", "cannot open the image: Not a directory")
    # a path longer than the message buffer (and PATH_MAX): its middle goes, the start and the reason stay
    long = tmp_path.joinpath(*["d" * 200] * 25, "photo.jpg")
    msg = fails(long, "photo.jpg: cannot open the image: File name too long")
    assert "…" in msg and str(tmp_path) in msg, msg


@warnings_filter
def test_size_limit_refused_before_decoding_as_pil_refuses(tmp_path):
    """Headers claiming more than PIL's 178,956,970 pixels (2 × Image.MAX_IMAGE_PIXELS): PIL raises
    DecompressionBombError, vlmtune names the size and the limit, in well under a second."""
    still = F.pil_bytes(Image.fromarray(F.photo(8, 8)), "WEBP", lossless=True)
    jpeg = bytearray(F.pil_bytes(Image.fromarray(F.photo(8, 8)), "JPEG"))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 10000, 20000)  # height, width
    png = F.png(np.zeros((1, 1, 3), int), 8, 2)
    png = png[:8] + F.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0)) + png[33:]
    cases = {
        "png": png,
        "gif": F.gif(65535, 65535, [dict(x=0, y=0, w=2, h=2, indices=[0, 1, 1, 0])], [(0, 0, 0), (255, 255, 255)]),
        "gif-frame": F.gif(4, 4, [dict(x=60000, y=60000, w=2, h=2, indices=[0, 1, 1, 0])], [(0, 0, 0), (9, 9, 9)]),
        "bmp": F.bmp(20000, 10000, 24, [b"\0\0\0"]),
        "webp": F.webp_animated(still, (20000, 10000), (0, 0), (8, 8)),
        "jpeg": bytes(jpeg),
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.img"
        p.write_bytes(data)
        ref = reference(p)
        assert isinstance(ref, str) and "DecompressionBombError" in ref, f"{name}: PIL says {ref}"
        start = time.perf_counter()
        got = vlmtune(p, tmp_path)
        assert isinstance(got, str) and "pixels, above the limit of 178956970" in got, f"{name}: {got}"
        assert time.perf_counter() - start < 1.0


def test_progressive_jpeg_scans_bounded(tmp_path):
    """A deliberate difference: PIL decodes any number of scans; vlmtune refuses more than 1,000, the work
    of each being a pass over the whole image."""
    data = F.pil_bytes(Image.fromarray(F.photo(64, 48)), "JPEG", quality=85, progressive=True)
    last_scan = data[data.rfind(b"\xff\xda"):-2]
    p = tmp_path / "scans.jpg"
    p.write_bytes(data[:-2] + last_scan * 1200 + b"\xff\xd9")
    assert not isinstance(reference(p), str)
    got = vlmtune(p, tmp_path)
    assert isinstance(got, str) and "more than 1000 scans, above the limit" in got, got

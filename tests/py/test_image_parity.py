"""vlmtune's image decoding and preprocessing against the reference pipeline.

Reference: PIL's Image.open + ImageOps.exif_transpose + convert("RGB") (what mlx-vlm's and
transformers' load_image do), then transformers' Qwen2VLImageProcessorPil configured as Qwen3-VL
(patch 16, merge 2, temporal 2, mean = std = 0.5).  Decoded RGB must be identical for lossless
formats; pixel_values within 0.02 in normalized units (the measured figures are printed);
grids and token counts equal for every size tried.
"""
import io
import os
import subprocess
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from PIL import Image, ImageOps

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
MIN_PIXELS, MAX_PIXELS = 64 * 64, 448 * 448  # small caps keep the test fast; the defaults are tested in C


def reference_processor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    return Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3, size={"shortest_edge": min_pixels, "longest_edge": max_pixels})


def reference_rgb(path):
    return np.array(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def vlmtune(path, tmp_path, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS):
    out, rgb = tmp_path / "pv.safetensors", tmp_path / "rgb.safetensors"
    r = subprocess.run([CLI, "image", "--image", str(path), "--image-min-pixels", str(min_pixels), "--image-max-pixels",
                        str(max_pixels), "--out", str(out), "--rgb-out", str(rgb)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pv = mx.load(str(out))
    return np.array(mx.load(str(rgb))["rgb"]), np.array(pv["pixel_values"]), np.array(pv["image_grid_thw"])[0]


def photo(w, h, seed=0):
    """Photograph-like: smooth gradients, texture noise, hard edges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(x / 17.0 + seed), 128 + 100 * np.cos(y / 23.0), (x + y) % 256], -1)
    img += rng.normal(0, 12, img.shape)
    img[h // 3: h // 2, w // 4: w // 2] = [250, 30, 20]
    return np.clip(img, 0, 255).astype(np.uint8)


def save(arr_or_img, path, **kw):
    img = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    img.save(path, **kw)
    return path


def formats(tmp_path):
    base = photo(257, 191, 1)
    rgba = np.dstack([base, (np.arange(257)[None, :] % 256 * np.ones((191, 1))).astype(np.uint8)])
    gray = base[..., 0]
    cases = {
        "png rgb": save(base, tmp_path / "a.png"),
        "png rgba": save(rgba, tmp_path / "b.png"),
        "png gray": save(gray, tmp_path / "c.png"),
        "png gray+alpha": save(Image.fromarray(gray).convert("LA"), tmp_path / "d.png"),
        "png palette": save(Image.fromarray(base).convert("P", palette=Image.ADAPTIVE), tmp_path / "e.png"),
        "png 16-bit gray": save(Image.fromarray((gray.astype(np.uint16) * 3)), tmp_path / "f.png"),
        "png 1-bit": save(Image.fromarray(gray).convert("1"), tmp_path / "g.png"),
        "bmp 24-bit": save(base, tmp_path / "h.bmp"),
        "bmp 8-bit palette": save(Image.fromarray(base).convert("P", palette=Image.ADAPTIVE), tmp_path / "i.bmp"),
        "gif": save(Image.fromarray(base).convert("P", palette=Image.ADAPTIVE), tmp_path / "j.gif"),
        "webp lossless": save(base, tmp_path / "k.webp", lossless=True),
        "webp lossless alpha": save(rgba, tmp_path / "l.webp", lossless=True),
        "webp lossy": save(base, tmp_path / "m.webp", quality=80),
        "jpeg": save(base, tmp_path / "n.jpg", quality=90),
        "jpeg gray": save(gray, tmp_path / "o.jpg", quality=90),
        "jpeg 4:4:4": save(base, tmp_path / "p.jpg", quality=95, subsampling=0),
    }
    for o in range(2, 9):  # EXIF orientations, on a non-square JPEG
        exif = Image.Exif()
        exif[0x0112] = o
        cases[f"jpeg exif orientation {o}"] = save(base, tmp_path / f"q{o}.jpg", quality=90, exif=exif.tobytes())
    return cases


def test_decode_matches_pil(tmp_path):
    worst_jpeg = 0
    for name, path in formats(tmp_path).items():
        want = reference_rgb(path)
        got, _, _ = vlmtune(path, tmp_path)
        assert got.shape == want.shape, f"{name}: {got.shape} vs PIL {want.shape}"
        diff = int(np.max(np.abs(got.astype(int) - want.astype(int))))
        if name.startswith("jpeg") or name == "webp lossy":
            worst_jpeg = max(worst_jpeg, diff)
            assert diff <= 2, f"{name}: decoded pixels differ from PIL by up to {diff} levels"
        else:
            assert diff == 0, f"{name}: decoded pixels differ from PIL by up to {diff} levels"
    print(f"lossy formats: decoded RGB within {worst_jpeg} levels of PIL; lossless formats identical")


SIZES = [(1, 1), (4, 4), (15, 17), (32, 32), (33, 31), (64, 64), (100, 100), (300, 200), (200, 300), (448, 448),
         (449, 447), (640, 480), (480, 640), (1024, 768), (768, 1024), (2000, 40), (40, 2000), (32, 6400), (6400, 32),
         (20, 30), (2400, 1600), (1600, 2400), (999, 1), (1, 199), (7, 1393), (1393, 7), (223, 223), (224, 224),
         (225, 225), (512, 96), (96, 512), (1920, 1080), (1080, 1920), (3000, 20), (50, 50), (63, 65), (111, 333),
         (333, 111), (700, 701), (48, 4800), (4800, 48), (160, 90), (90, 160), (257, 129), (129, 257), (818, 612),
         (612, 818), (4000, 3000), (3000, 4000), (123, 456), (456, 123), (2, 300)]


def test_grids_and_token_counts(tmp_path):
    proc = reference_processor()
    assert len(SIZES) >= 50
    for w, h in SIZES:
        path = save(photo(w, h, w + h), tmp_path / "s.png")
        if max(w, h) / min(w, h) > 200:  # both refuse these
            with pytest.raises(ValueError):
                proc(images=[Image.open(path).convert("RGB")], return_tensors="np")
            r = subprocess.run([CLI, "image", "--image", str(path)], capture_output=True, text=True)
            assert r.returncode == 1 and "above 200" in r.stderr
            continue
        ref = proc(images=[Image.open(path).convert("RGB")], return_tensors="np")
        _, pv, grid = vlmtune(path, tmp_path)
        assert list(grid) == list(ref["image_grid_thw"][0]), f"{w}×{h}: grid {grid} vs {ref['image_grid_thw'][0]}"
        assert pv.shape == ref["pixel_values"].shape, f"{w}×{h}"


def shapes(w, h, seed):
    """Synthetic: flat background, a disc and a bar of other colours (the demo's kind of picture)."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    y, x = np.mgrid[0:h, 0:w]
    img[(x - w * 0.4) ** 2 + (y - h * 0.5) ** 2 < (min(w, h) * 0.3) ** 2] = rng.integers(0, 256, 3)
    img[h // 5: h // 5 + max(1, h // 10), w // 10: w - w // 10] = rng.integers(0, 256, 3)
    return img


def test_pixel_values(tmp_path):
    """Photographs and synthetic images at 40 sizes, resized down and up by smart_resize."""
    proc = reference_processor()
    rng = np.random.default_rng(11)
    worst, exact = 0.0, 0
    sizes = [(int(rng.integers(40, 1600)), int(rng.integers(40, 1600))) for _ in range(20)]
    for i, (w, h) in enumerate(sizes):
        for kind, arr in (("photo", photo(w, h, i)), ("shapes", shapes(w, h, i))):
            path = save(arr, tmp_path / f"{kind}{i}.png")
            ref = proc(images=[Image.open(path).convert("RGB")], return_tensors="np")
            _, pv, _ = vlmtune(path, tmp_path)
            d = float(np.max(np.abs(pv - ref["pixel_values"])))
            worst = max(worst, d)
            exact += d < 1e-6
    print(f"pixel_values over {2 * len(sizes)} images: max|Δ| = {worst:.3g} in normalized units (bar 0.02); "
          f"{exact} identical to the reference")
    assert worst <= 0.02


def test_aspect_ratio_refused_like_reference(tmp_path):
    path = save(photo(4020, 20), tmp_path / "wide.png")
    with pytest.raises(ValueError):
        reference_processor()(images=[Image.open(path).convert("RGB")], return_tensors="np")
    r = subprocess.run([CLI, "image", "--image", str(path)], capture_output=True, text=True)
    assert r.returncode == 1 and "aspect ratio 201.0" in r.stderr and "above 200" in r.stderr, r.stderr


def test_bad_files(tmp_path):
    def fails(data, fragment, name="x.bin"):
        p = tmp_path / name
        if data is not None:
            p.write_bytes(data)
        r = subprocess.run([CLI, "image", "--image", str(p)], capture_output=True, text=True)
        assert r.returncode == 1 and fragment in r.stderr and str(p) in r.stderr, r.stderr

    fails(None, "image file not found", "missing.jpg")
    fails(b"", "empty file (0 bytes)")
    jpg = io.BytesIO()
    Image.fromarray(photo(64, 64)).save(jpg, "JPEG")
    fails(jpg.getvalue()[:600], "truncated JPEG")
    png = io.BytesIO()
    Image.fromarray(photo(64, 64)).save(png, "PNG")
    data = bytearray(png.getvalue())
    data[60:80] = b"\0" * 20
    fails(bytes(data), "corrupt PNG")
    fails(b"II*\x00" + b"\0" * 100, "unsupported image format")
    # a PNG header claiming 100000×100000: refused before any pixel buffer is allocated
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\0" * 64)
    huge = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) +
            struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat)))
    fails(huge, "100000×100000 = 10000000000 pixels, above the limit")

#!/usr/bin/env python3
"""Images per second for decode + resize + patchify: vlmtune against the reference processor.

N photograph-like JPEGs of 1024×768 are preprocessed at Qwen3-VL's training size cap (max_pixels
262144, as LLaMA-Factory uses).  vlmtune: one `vlmtune encode` over a JSONL naming every image (decode,
EXIF, resize, normalize, patchify, and the short chat rendering); reference: PIL open + exif_transpose
+ convert("RGB") and transformers' Qwen2VLImageProcessorPil, one image at a time.  Median of RUNS runs.
usage: bench_image.py [--runs 5] [--images 24]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--images", type=int, default=24)
    args = ap.parse_args()
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    cli = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:768, 0:1024]
    names = []
    for i in range(args.images):
        img = np.stack([128 + 100 * np.sin(x / 17.0 + i), 128 + 100 * np.cos(y / 23.0), (x + y + i) % 256], -1)
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(tmp / f"{i}.jpg", quality=90)
        names.append(f"{i}.jpg")
    (tmp / "d.jsonl").write_text("".join(json.dumps({"image": n, "prompt": "p", "response": "r"}) + "\n" for n in names))
    proc = Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3, size={"shortest_edge": 65536, "longest_edge": 262144})
    vt, ref = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run([cli, "encode", "--model", str(ROOT / ".cache" / "qwen3-tokenizer"), "--data", str(tmp / "d.jsonl"),
                        "--out", str(tmp / "e.safetensors"), "--image-max-pixels", "262144"], check=True, stdout=subprocess.DEVNULL)
        vt.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for n in names:
            im = ImageOps.exif_transpose(Image.open(tmp / n)).convert("RGB")
            proc(images=[im], return_tensors="np")
        ref.append(time.perf_counter() - t0)
    a, b = statistics.median(vt), statistics.median(ref)
    print(f"{args.images} JPEGs 1024×768 -> 608×448 patches (max_pixels 262144), one process, median of {args.runs}")
    print(f"{'':<34}{'seconds':>10}{'images/s':>10}")
    print(f"{'vlmtune encode (whole process)':<34}{a:>10.3f}{args.images / a:>10.1f}")
    print(f"{'PIL + Qwen2VLImageProcessorPil':<34}{b:>10.3f}{args.images / b:>10.1f}")
    print(f"{'ratio (vlmtune speed)':<34}{b / a:>10.2f}x")


if __name__ == "__main__":
    main()

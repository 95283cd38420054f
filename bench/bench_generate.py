#!/usr/bin/env python3
"""Decode speed: the base model, the base with an adapter applied on the fly, the fused model, and mlx-vlm.

    bench_generate.py --model DIR --adapter DIR [--tokens N] [--runs R]

Greedy, one 256×256 photo + a short prompt, N new tokens with the stop ids ignored.  vlmtune's figures
are its own report (prompt and generation tokens/s); mlx-vlm 0.7.10's is its generate_step on the same
prompt ids and pixels (from `vlmtune encode`), timed over the same number of new tokens.  Prints the
median of R runs and each figure's ratio to vlmtune's base decode speed.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))


def vlmtune(model, image, n, adapter=None):
    cmd = [CLI, "generate", "--model", str(model), "--image", str(image), "--prompt", "Critique this photo.",
           "--max-tokens", str(n), "--ignore-eos", "--temp", "0"]
    if adapter:
        cmd += ["--adapter", str(adapter)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    m = re.search(r"prompt: (\d+) tokens, ([0-9.]+) tokens/s; generation: (\d+) tokens, ([0-9.]+) tokens/s", r.stderr)
    return float(m.group(2)), float(m.group(4))


def mlx_vlm(model_dir, d, image, n):
    import mlx.core as mx
    import numpy as np
    from mlx_vlm.generate.ar import generate_step
    from mlx_vlm.utils import load_model
    row = {"image": str(image), "prompt": "Critique this photo.", "response": "x"}
    (d / "p.jsonl").write_text(json.dumps(row) + "\n")
    subprocess.run([CLI, "encode", "--model", str(model_dir), "--data", str(d / "p.jsonl"), "--out", str(d / "p.safetensors")],
                   check=True, capture_output=True)
    t = {k: np.array(v) for k, v in mx.load(str(d / "p.safetensors")).items()}
    ids = t["input_ids"][: int(np.nonzero(t["loss_mask"])[0][0])]
    model = load_model(Path(model_dir))
    start, first = time.perf_counter(), None
    steps = generate_step(mx.array(ids[None].astype(np.int32)), model, mx.array(t["pixel_values"]), None,
                          temperature=0.0, max_tokens=n, image_grid_thw=mx.array(t["image_grid_thw"].astype(np.int32)))
    for i, (tok, _) in enumerate(steps):
        if i == 0:
            first = time.perf_counter()
        if i + 1 == n:
            break
    end = time.perf_counter()
    return len(ids) / (first - start), (n - 1) / (end - first)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    from PIL import Image
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        image = d / "photo.png"
        Image.new("RGB", (256, 256), (180, 90, 40)).save(image)
        subprocess.run([CLI, "fuse", "--model", a.model, "--adapter", a.adapter, "--out", str(d / "fused")], check=True,
                       capture_output=True)
        rows = {"vlmtune base": [], "vlmtune + adapter (unfused)": [], "vlmtune fused": [], "mlx-vlm base": []}
        for _ in range(a.runs):
            rows["vlmtune base"].append(vlmtune(a.model, image, a.tokens))
            rows["vlmtune + adapter (unfused)"].append(vlmtune(a.model, image, a.tokens, a.adapter))
            rows["vlmtune fused"].append(vlmtune(d / "fused", image, a.tokens))
            rows["mlx-vlm base"].append(mlx_vlm(a.model, d, image, a.tokens))
    base = statistics.median(r[1] for r in rows["vlmtune base"])
    print(f"model {a.model}, adapter {a.adapter}; greedy, {a.tokens} new tokens, one 256×256 photo; median of {a.runs}")
    print(f"{'':30} {'prompt tok/s':>13} {'decode tok/s':>13} {'decode vs base':>15}")
    for name, r in rows.items():
        p, g = statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)
        print(f"{name:30} {p:13.1f} {g:13.1f} {g / base:14.2f}x")


if __name__ == "__main__":
    main()

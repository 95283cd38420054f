#!/usr/bin/env python3
"""Full-size Qwen3-VL-4B (random weights, real shapes) on this machine's CPU: one image + 64 text tokens.

Loads the checkpoint made by tools/make_full_random.py and runs one forward pass
with `vlmtune forward` and with mlx-vlm 0.7.10 (the reference) on the same inputs,
RUNS times each, in alternation; prints the median wall time, the peak resident
memory of each process, and the ratio.  Also checks the two agree (bf16 weights,
reported, not asserted: bf16 rounding grows over 36 layers; the float32 parity tests hold the 1e-4 bar).

usage: bench_full_model.py MODEL_DIR [--runs N] [--image-size 256]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

REFERENCE = r'''
import sys, time, json, resource
import numpy as np, mlx.core as mx
mx.set_default_device(mx.cpu)
from pathlib import Path
from mlx_vlm.utils import load_model
t0 = time.time()
model = load_model(Path(sys.argv[1]), lazy=True)
inp = mx.load(sys.argv[2])
out = model(inp["input_ids"], pixel_values=inp["pixel_values"], image_grid_thw=inp["image_grid_thw"])
last = np.array(out.logits[0, -1].astype(mx.float32))
np.save(sys.argv[3], last)
print(json.dumps({"seconds": time.time() - t0}))
'''


def make_inputs(path, size):
    import mlx.core as mx
    grid = [1, size // 16, size // 16]
    n_patches = grid[1] * grid[2]
    rng = np.random.default_rng(0)
    text = list(rng.integers(0, 151000, size=64))
    ids = text[:32] + [151652] + [151655] * (n_patches // 4) + [151653] + text[32:]
    mx.save_safetensors(path, {
        "input_ids": mx.array(np.array([ids], dtype=np.int32)),
        "pixel_values": mx.array(rng.standard_normal((n_patches, 1536)).astype(np.float32)),
        "image_grid_thw": mx.array(np.array([grid], dtype=np.int32)),
    })
    return len(ids), n_patches


def reference_dir(model, tmp):
    """The same checkpoint for mlx-vlm, whose config reader needs the transformers-4 rope fields."""
    ref = tmp / "reference-model"
    ref.mkdir()
    for f in Path(model).iterdir():
        if f.name != "config.json":
            (ref / f.name).symlink_to(f.resolve())
    cfg = json.loads((Path(model) / "config.json").read_text())
    text = cfg["text_config"]
    rope = text.get("rope_parameters") or text.get("rope_scaling")
    text.setdefault("rope_theta", rope.get("rope_theta", 5000000))
    text.setdefault("rope_scaling", {k: v for k, v in rope.items() if k != "rope_theta"})
    (ref / "config.json").write_text(json.dumps(cfg))
    return ref


def measured(cmd):
    """Wall seconds and peak RSS (GB) of one child process (each in a fresh wrapper: ru_maxrss of
    RUSAGE_CHILDREN is a maximum over all children ever waited for)."""
    wrapper = [sys.executable, "-c",
               "import resource,subprocess,sys,json;r=subprocess.run(sys.argv[1:]);"
               "print(json.dumps({'rss_kb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}),file=sys.stderr);"
               "sys.exit(r.returncode)"] + cmd
    t0 = time.time()
    r = subprocess.run(wrapper, capture_output=True, text=True)
    secs = time.time() - t0
    if r.returncode:
        sys.exit(f"{cmd[0]} failed: {r.stderr[-2000:]}")
    rss = json.loads(r.stderr.strip().splitlines()[-1])["rss_kb"] / 1e6
    return secs, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=256)
    args = ap.parse_args()
    cli = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
    tmp = Path(tempfile.mkdtemp())
    n_tokens, n_patches = make_inputs(str(tmp / "in.safetensors"), args.image_size)
    ref_model = reference_dir(args.model, tmp)
    ours, ref = [], []
    for _ in range(args.runs):
        ours.append(measured([cli, "forward", "--model", args.model, "--inputs", str(tmp / "in.safetensors"),
                              "--out", str(tmp / "out.safetensors")]))
        ref.append(measured([sys.executable, "-c", REFERENCE, str(ref_model), str(tmp / "in.safetensors"),
                             str(tmp / "ref.npy")]))
    import mlx.core as mx
    got = np.array(mx.load(str(tmp / "out.safetensors"))["logits"][0, -1])
    want = np.load(tmp / "ref.npy")
    agree = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    print(f"Qwen3-VL-4B shapes, random bf16 weights, CPU ({os.cpu_count()} cores); one {args.image_size}×"
          f"{args.image_size} image ({n_patches} patches) + 64 text tokens = {n_tokens} tokens; "
          f"median of {args.runs} runs, load included")
    print(f"{'':<22} {'wall s':>8} {'peak RSS GB':>12}")
    print(f"{'vlmtune forward':<22} {med(ours, 0):>8.1f} {med(ours, 1):>12.2f}")
    print(f"{'mlx-vlm 0.7.10':<22} {med(ref, 0):>8.1f} {med(ref, 1):>12.2f}")
    print(f"{'ratio vlmtune/mlx-vlm':<22} {med(ours, 0) / med(ref, 0):>8.2f} {med(ours, 1) / med(ref, 1):>12.2f}")
    print(f"last-token logits agree to max|Δ|/max|ref| = {agree:.2e} (bf16 weights)")


if __name__ == "__main__":
    main()

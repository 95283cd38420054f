#!/usr/bin/env python3
"""Decode speed: the base model, the base with an adapter applied on the fly, the fused model, and mlx-vlm.

    bench_generate.py --model DIR --adapter DIR [--tokens N] [--runs R] [--compare OTHER_CLI]

Greedy, one 256×256 photo + a short prompt, N new tokens with the stop ids ignored.  vlmtune's figures
are its own report (prompt and generation tokens/s); mlx-vlm 0.7.10's is its generate_step on the same
prompt ids and pixels (from `vlmtune encode`), timed over the same number of new tokens, with and without the
adapter applied on the fly (apply_lora_layers, what mlx_vlm.load does with adapter_path).  Prints the
median of R runs, the spread (min–max), and each figure's ratio to vlmtune's base decode speed.  --compare
adds rows for another vlmtune binary (say, a build of the previous commit), run interleaved with this one so a
loaded machine's drift hits both alike.

Every CLI run is a new process, which pays the first use of each kernel in its prompt (on a GPU, loading
MLX's compiled kernels), while mlx-vlm's runs share one Python process.  --in-process adds vlmtune's rows with
the model loaded once and R answers in one process, through the Python module (python/vlmtune, the build's
libvlmtune.so: PYTHONPATH and VLMTUNE_LIBRARY), as a service runs it; figures from Model.last_generation(),
which stops at the end of the turn (the CLI runs ignore it).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))


def vlmtune(model, image, n, adapter=None, cli=None):
    cmd = [cli or CLI, "generate", "--model", str(model), "--image", str(image), "--prompt", "Critique this photo.",
           "--max-tokens", str(n), "--ignore-eos", "--temp", "0"]
    if adapter:
        cmd += ["--adapter", str(adapter)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    m = re.search(r"prompt: (\d+) tokens, ([0-9.]+) tokens/s; generation: (\d+) tokens, ([0-9.]+) tokens/s", r.stderr)
    return float(m.group(2)), float(m.group(4))


def mlx_vlm(model_dir, d, image, n, adapter=None):
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
    if adapter:   # applied on the fly, as mlx_vlm.load(..., adapter_path=...) does
        from mlx_vlm.trainer.peft.utils import apply_lora_layers
        model = apply_lora_layers(model, str(adapter))
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


class Rows(dict):
    """name -> [(prompt tok/s, decode tok/s)]; each measurement is printed as it comes (stderr), so that a run
    cut short still shows what it measured."""

    def add(self, name, value):
        self.setdefault(name, []).append(value)
        print(f"  {name}: prompt {value[0]:.1f} tok/s, decode {value[1]:.1f} tok/s", file=sys.stderr, flush=True)


def in_process(model, image, n, runs, adapter=None):
    """[(prompt tok/s, decode tok/s)] of `runs` answers from one process of the Python module."""
    cmd = [sys.executable, __file__, "--worker", str(model), str(adapter or ""), str(image), str(n), str(runs)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:   # said, with the worker's own words, and the other rows still printed
        print(f"  in-process worker failed (exit {r.returncode}): {r.stderr.strip()[-1500:]}", file=sys.stderr, flush=True)
        return []
    return [tuple(x) for x in json.loads(r.stdout.strip().splitlines()[-1])]


def worker(model, adapter, image, n, runs):
    import vlmtune as vt
    out = []
    with vt.Model(model, adapter=adapter or None) as m:
        for _ in range(runs):
            m.generate("Critique this photo.", images=[image], max_tokens=n, temperature=0.0)
            st = m.last_generation()
            out.append((st["prompt_tokens"] / st["prompt_seconds"],
                        max(st["generated_tokens"] - 1, 1) / max(st["generate_seconds"], 1e-9)))
    print(json.dumps(out))


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--compare", help="another vlmtune binary, timed interleaved with this one")
    ap.add_argument("--in-process", action="store_true", help="also vlmtune's answers in one process (Python module)")
    a = ap.parse_args()
    from PIL import Image
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        image = d / "photo.png"
        Image.new("RGB", (256, 256), (180, 90, 40)).save(image)
        subprocess.run([CLI, "fuse", "--model", a.model, "--adapter", a.adapter, "--out", str(d / "fused")], check=True,
                       capture_output=True)
        rows = Rows({"vlmtune base": [], "vlmtune + adapter (unfused)": [], "vlmtune fused": [], "mlx-vlm base": [],
                     "mlx-vlm + adapter (unfused)": []})
        if a.compare:
            rows["other base"], rows["other + adapter (unfused)"] = [], []
        for i in range(a.runs):
            if a.compare and i % 2:  # alternate which binary goes first
                rows.add("other base", vlmtune(a.model, image, a.tokens, cli=a.compare))
                rows.add("other + adapter (unfused)", vlmtune(a.model, image, a.tokens, a.adapter, cli=a.compare))
            rows.add("vlmtune base", vlmtune(a.model, image, a.tokens))
            rows.add("vlmtune + adapter (unfused)", vlmtune(a.model, image, a.tokens, a.adapter))
            if a.compare and not i % 2:
                rows.add("other base", vlmtune(a.model, image, a.tokens, cli=a.compare))
                rows.add("other + adapter (unfused)", vlmtune(a.model, image, a.tokens, a.adapter, cli=a.compare))
            rows.add("vlmtune fused", vlmtune(d / "fused", image, a.tokens))
            rows.add("mlx-vlm base", mlx_vlm(a.model, d, image, a.tokens))
            rows.add("mlx-vlm + adapter (unfused)", mlx_vlm(a.model, d, image, a.tokens, a.adapter))
        if a.in_process:
            for v in in_process(a.model, image, a.tokens, a.runs):
                rows.add("vlmtune base, one process", v)
            for v in in_process(a.model, image, a.tokens, a.runs, a.adapter):
                rows.add("vlmtune + adapter, one process", v)
    base = statistics.median(r[1] for r in rows["vlmtune base"])
    print(f"model {a.model}, adapter {a.adapter}; greedy, {a.tokens} new tokens, one 256×256 photo; "
          f"median [min–max] of {a.runs}" + (f"; other = {a.compare}" if a.compare else ""))
    print(f"{'':30} {'prompt tok/s':>21} {'decode tok/s':>19} {'decode vs base':>15}")
    for name, r in rows.items():
        if not r:
            print(f"{name:30} failed (above)")
            continue
        p, g = [x[0] for x in r], [x[1] for x in r]
        pm, gm = statistics.median(p), statistics.median(g)
        print(f"{name:30} {pm:7.1f} [{min(p):5.0f}–{max(p):5.0f}] {gm:6.1f} [{min(g):4.0f}–{max(g):4.0f}] "
              f"{gm / base:14.2f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A 4-bit (or 8-bit) MLX copy of a Qwen3-VL checkpoint, for QLoRA benchmarks (test/bench tool).

Loads SRC (either layout) with mlx-vlm's own loader, quantizes the language model's linear layers and token
embedding with mlx.nn.quantize (affine, GROUP_SIZE, BITS) -- the modules mlx-vlm's convert quantizes by
default; the vision tower stays as it is -- and writes DST in mlx-vlm's layout: sharded safetensors with
model.safetensors.index.json, config.json with "quantization", and SRC's tokenizer and preprocessor files.
vlmtune (src/model/load.c) and mlx_vlm.load both read it.  Weights are evaluated shard by shard.

usage: quantize_mlx.py SRC DST [--bits 4] [--group-size 64] [--shard-gb 2]
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=64)
    ap.add_argument("--shard-gb", type=float, default=2.0)
    a = ap.parse_args()
    from mlx_vlm.utils import load_model
    t0 = time.time()
    src, dst = Path(a.src), Path(a.dst)
    model = load_model(src, lazy=True)
    gs = a.group_size
    nn.quantize(model.language_model, group_size=gs, bits=a.bits,
                class_predicate=lambda p, m: hasattr(m, "to_quantized") and m.weight.shape[-1] % gs == 0)
    weights = dict(tree_flatten(model.parameters()))
    dst.mkdir(parents=True, exist_ok=True)
    shards, cur, size = [], {}, 0
    for k in sorted(weights):
        nbytes = weights[k].nbytes
        if cur and size + nbytes > a.shard_gb * 1e9:
            shards.append(cur)
            cur, size = {}, 0
        cur[k] = weights[k]
        size += nbytes
    shards.append(cur)
    weight_map, total = {}, 0
    for i, part in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        mx.save_safetensors(str(dst / name), part, metadata={"format": "mlx"})
        weight_map.update({k: name for k in part})
        total += sum(v.nbytes for v in part.values())
        del part
    (dst / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    cfg = json.loads((src / "config.json").read_text())
    q = {"group_size": gs, "bits": a.bits}
    cfg["quantization"] = q
    cfg["quantization_config"] = q
    (dst / "config.json").write_text(json.dumps(cfg, indent=2))
    for f in src.iterdir():
        if f.is_file() and f.suffix in (".json", ".jinja", ".txt", ".model") and f.name not in (
                "config.json", "model.safetensors.index.json"):
            shutil.copy2(f, dst / f.name)
    n_q = sum(1 for k in weights if k.endswith(".scales"))
    print(f"{n_q} matrices quantized to {a.bits} bits (group {gs}); {total / 1e9:.2f} GB in {len(shards)} file(s) "
          f"written to {dst} in {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()

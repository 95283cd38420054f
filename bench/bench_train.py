#!/usr/bin/env python3
"""Training throughput and peak memory: vlmtune train beside mlx-vlm's own trainer step.

Both train LoRA (rank 8, alpha 16, every decoder projection, dropout 0) with AdamW on the same
rows: one image + a prompt + a response each, batch size 1, `vlmtune encode` giving the tokens
both see.  The mlx-vlm side is its own SFT step: nn.value_and_grad over
mlx_vlm.trainer.vlm.sft.trainer.vision_language_loss_fn (logits at every position, loss on the
completion), then optimizer.update -- what `python -m mlx_vlm.lora` runs per batch.  vlmtune's
figures are its own metrics.jsonl (ms per step, peak memory from MLX's allocator); both exclude
the first steps (warm-up).

    bench_train.py --model DIR [--rows N] [--steps K] [--device cpu|gpu] [--peak-tflops T]

prints a table: median ms/step, supervised tokens/s, all tokens/s, peak memory, and the ratio
vlmtune / mlx-vlm; on a GPU with --peak-tflops, MFU counting 4·N FLOPs per token for the frozen
text decoder (forward 2N + backward through activations 2N) plus 2·N_vision per image patch.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
WARMUP = 2  # steps left out of the median (--warmup)


def make_rows(d, n, size):
    from PIL import Image
    import random
    rng = random.Random(0)
    (d / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        Image.new("RGB", (size, size), (rng.randrange(256), rng.randrange(256), rng.randrange(256))).save(d / f"img/{i}.png")
        rows.append({"image": f"img/{i}.png", "prompt": "Critique this photo, please, in two sentences.",
                     "response": "The colour is flat and the frame is empty; add a subject and some contrast. "
                                 "Shoot at golden hour for warmer light."})
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def run_vlmtune(model, d, steps, device, side):
    run = d / "run"
    subprocess.run([CLI, "train", "--model", str(model), "--data", str(d / "train.jsonl"), "--out", str(run),
                    "--iters", str(steps), "--batch-size", "1", "--grad-accumulation-steps", "1", "--rank", "8",
                    "--alpha", "16", "--steps-per-report", "1", "--save-every", "100000", "--lr-schedule", "constant",
                    "--warmup-steps", "0", "--image-max-pixels", str(side * side), "--image-min-pixels", str(side * side)],
                   check=True, stdout=subprocess.DEVNULL)
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    lines = [l for l in lines if "ms_per_step" in l][WARMUP:]
    print(f"  vlmtune: " + " ".join(f"{l['ms_per_step']:.1f}" for l in lines) + " ms", file=sys.stderr, flush=True)
    return statistics.median(l["ms_per_step"] for l in lines), max(l["peak_mem_gb"] for l in lines)


def run_mlx_vlm(model_dir, d, steps, device, side):
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    import numpy as np
    from mlx_vlm.trainer.peft.utils import get_peft_model
    from mlx_vlm.trainer.vlm.sft.trainer import vision_language_loss_fn
    from mlx_vlm.utils import load_model
    if device:  # otherwise MLX's default: the GPU when there is one, like vlmtune
        mx.set_default_device(mx.gpu if device == "gpu" else mx.cpu)
    print(f"  mlx-vlm on {mx.default_device()}", file=sys.stderr, flush=True)
    enc = d / "enc.safetensors"
    subprocess.run([CLI, "encode", "--model", str(model_dir), "--data", str(d / "train.jsonl"), "--out", str(enc),
                    "--image-min-pixels", str(side * side), "--image-max-pixels", str(side * side)], check=True,
                   stdout=subprocess.DEVNULL)
    t = {k: np.array(v) for k, v in mx.load(str(enc)).items()}
    model = load_model(Path(model_dir))
    model = get_peft_model(model, None, rank=8, alpha=16, dropout=0.0, verbose=False)
    opt = optim.AdamW(learning_rate=1e-4)
    grad_fn = nn.value_and_grad(model, vision_language_loss_fn)
    times = []
    mx.reset_peak_memory()
    for s in range(steps):
        r = s % (len(t["token_offsets"]) - 1)
        a, b = t["token_offsets"][r], t["token_offsets"][r + 1]
        pa, pb = t["patch_offsets"][r], t["patch_offsets"][r + 1]
        ia, ib = t["image_offsets"][r], t["image_offsets"][r + 1]
        batch = {"input_ids": mx.array(t["input_ids"][a:b][None].astype(np.int32)),
                 "attention_mask": mx.ones((1, int(b - a)), dtype=mx.int32),
                 "pixel_values": mx.array(t["pixel_values"][pa:pb]),
                 "image_grid_thw": mx.array(t["image_grid_thw"][ia:ib].astype(np.int32))}
        t0 = time.perf_counter()
        loss, grads = grad_fn(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        times.append((time.perf_counter() - t0) * 1e3)
        print(f"  mlx-vlm step {s}: {times[-1]:.1f} ms", file=sys.stderr, flush=True)
    return statistics.median(times[WARMUP:]), mx.get_peak_memory() / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default="")
    ap.add_argument("--peak-tflops", type=float, default=0)
    ap.add_argument("--image-size", type=int, default=256, help="square photos of this side (256: 64 image tokens)")
    ap.add_argument("--warmup", type=int, default=2, help="first steps left out of the median")
    a = ap.parse_args()
    global WARMUP
    WARMUP = a.warmup
    model = Path(a.model)
    cfg = json.loads((model / "config.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        make_rows(d, a.rows, a.image_size)
        ours, theirs = [], []
        for _ in range(a.runs):
            if (d / "run").exists():
                subprocess.run(["rm", "-rf", str(d / "run")])
            ours.append(run_vlmtune(model, d, a.steps, a.device, a.image_size))
            theirs.append(run_mlx_vlm(model, d, a.steps, a.device, a.image_size))
        info = subprocess.run([CLI, "info", "--model", str(model)], capture_output=True, text=True).stdout
        enc = __import__("mlx.core", fromlist=["load"]).load(str(d / "enc.safetensors"))
        tokens = int(enc["token_offsets"][1]) - int(enc["token_offsets"][0])
        supervised = int(enc["loss_mask"][: tokens].sum())
        patches = int(enc["patch_offsets"][1]) - int(enc["patch_offsets"][0])
    ms_o = statistics.median(x[0] for x in ours)
    ms_t = statistics.median(x[0] for x in theirs)
    mem_o = statistics.median(x[1] for x in ours)
    mem_t = statistics.median(x[1] for x in theirs)
    print(f"model {model} ({cfg['text_config'].get('num_hidden_layers')} layers, hidden "
          f"{cfg['text_config'].get('hidden_size')}); one row = {tokens} tokens ({supervised} supervised, "
          f"{patches} patches); batch 1; median of {a.runs} runs × {a.steps - a.warmup} steps")
    print(f"{'':12} {'ms/step':>10} {'tokens/s':>10} {'peak GB':>9}")
    print(f"{'vlmtune':12} {ms_o:10.1f} {tokens / ms_o * 1e3:10.1f} {mem_o:9.2f}")
    print(f"{'mlx-vlm':12} {ms_t:10.1f} {tokens / ms_t * 1e3:10.1f} {mem_t:9.2f}")
    print(f"{'ratio':12} {ms_t / ms_o:9.2f}x {'':>10} {mem_o / mem_t:8.2f}x   (speed-up; memory vlmtune/mlx-vlm)")
    if a.peak_tflops:
        import re
        m = re.search(r"text ([0-9.]+) ([MB]), vision ([0-9.]+) ([MB])", info)
        unit = {"M": 1e6, "B": 1e9}
        n_text, n_vis = float(m.group(1)) * unit[m.group(2)], float(m.group(3)) * unit[m.group(4)]
        flops = 4 * n_text * tokens + 2 * n_vis * patches
        for name, ms in (("vlmtune", ms_o), ("mlx-vlm", ms_t)):
            print(f"MFU {name}: {flops / (ms / 1e3) / (a.peak_tflops * 1e12) * 100:.1f}%  "
                  f"({flops / 1e12:.2f} TFLOP per step at {a.peak_tflops:.0f} TFLOP/s peak)")


if __name__ == "__main__":
    main()

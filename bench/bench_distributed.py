#!/usr/bin/env python3
"""Data-parallel training throughput: one process, one process on the distributed path, two processes.

    bench_distributed.py [--model DIR --data DIR] [--steps K] [--repeats R] [--modes 1,1dist,2]
                         [--batch-size B] [--accumulation A] [-- extra vlmtune train flags]

Modes (the same global batch, seed and data in each):
  1      `vlmtune train` alone: the plain path;
  1dist  the same with VLMTUNE_DIST_ALWAYS=1: a group of one that still takes the data-parallel step (its
         share of every micro-batch, the flat gradient vector, the separate evaluation before the all-reduce),
         which is the overhead the distributed path adds to one GPU;
  2      `mlx.launch -n 2` on this host (ring backend over loopback).
Without --model/--data it makes the tests' tiny fixture (tools/make_fixture.py, Qwen's vocabulary) and 16
synthetic photo rows.  Each run trains K steps; its figure is the median over the steps after the first two
(warm-up) of the step's tokens/s (every real token of the global batch / the step's wall time, as
metrics.jsonl reports it on rank 0); the table gives the median over R runs (the modes interleaved) and the
ratio to mode 1.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
LAUNCH = Path(sys.executable).parent / "mlx.launch"
WARMUP = 2


def fixture(d):
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(d / "fx"), "--vocab", "151936",
                    "--layouts", "mlx"], check=True, capture_output=True)
    model = d / "fx" / "mlx"
    for f in (ROOT / ".cache" / "qwen3-tokenizer").iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_demo_data.py"), str(d / "data"), "--train", "16",
                    "--valid", "0", "--test", "0", "--size", "64"], check=True, capture_output=True)
    return model, d / "data" / "train.jsonl"


def run(mode, model, data, out, a, extra):
    train = [CLI, "train", "--model", str(model), "--data", str(data), "--out", str(out), "--iters", str(a.steps),
             "--batch-size", str(a.batch_size), "--grad-accumulation-steps", str(a.accumulation),
             "--steps-per-report", "1", "--steps-per-eval", "0", "--save-every", "100000", "--seed", "1", *extra]
    env = dict(os.environ)
    if mode == "1dist":
        env["VLMTUNE_DIST_ALWAYS"] = "1"
    cmd = train if mode in ("1", "1dist") else \
        [str(LAUNCH), "-n", mode, "-p", str(random.randint(20000, 60000)), "--", *train]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{mode}: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    steps = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [s for s in steps if "loss" in s and s["step"] > WARMUP]
    return statistics.median(s["tokens_per_s"] for s in steps), statistics.median(s["ms_per_step"] for s in steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--data", help="a training JSONL file or a folder with train.jsonl")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default="1,1dist,2")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--accumulation", type=int, default=2)
    a, extra = ap.parse_known_args()
    extra = [x for x in extra if x != "--"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, data = (Path(a.model), Path(a.data)) if a.model else fixture(tmp)
        modes = a.modes.split(",")
        figures = {m: [] for m in modes}
        for k in range(a.repeats):  # modes interleaved, so that a change in the machine's load hits all of them
            for mode in modes:
                figures[mode].append(run(mode, model, data, tmp / f"run-{mode}-{k}", a, extra))
        results = {m: (statistics.median(f[0] for f in fs), statistics.median(f[1] for f in fs))
                   for m, fs in figures.items()}
    base = results.get("1", (None,))[0]
    print(f"global batch {a.batch_size}×{a.accumulation}, {a.steps} steps (median of steps {WARMUP + 1}..), "
          f"median of {a.repeats} runs; {os.cpu_count()} CPU cores")
    print(f"| mode | tokens/s | ms/step | vs 1 process |\n|---|---:|---:|---:|")
    names = {"1": "1 process", "1dist": "1 process, distributed path", "2": "2 processes (ring)"}
    for mode, (tps, ms) in results.items():
        ratio = f"{tps / base:.3f}" if base else "-"
        print(f"| {names.get(mode, mode + ' processes')} | {tps:.1f} | {ms:.0f} | {ratio} |")


if __name__ == "__main__":
    main()

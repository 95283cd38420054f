#!/usr/bin/env python3
"""One benchmark, one GPU, one run, three trainers (issue #11, item 1).

LoRA training steps on Qwen3-VL-4B shapes (random bf16 weights), measured the same way for

  vlmtune             its CLI: `vlmtune train ... --iters N --steps-per-report 1`, figures from RUN/metrics.jsonl
                      (ms_per_step, peak_mem_gb = MLX's allocator peak);
  mlx-vlm 0.7.10      its own SFT step: get_peft_model, nn.value_and_grad over vision_language_loss_fn,
                      optimizer.update, mx.eval (logits and loss at every position); B encoded rows stacked;
  transformers+PEFT   Qwen3VLForConditionalGeneration(config) in bf16 on the GPU (random normal 0.02, sdpa),
                      get_peft_model (LoRA r8/α16/dropout 0 on the decoder's q,k,v,o,gate,up,down), AdamW;
                      random token ids around the image-token block, labels -100 but the last SUP tokens,
                      random pixel values; peak = torch.cuda.max_memory_allocated.

Every configuration runs in its own subprocess (peak memory is per configuration) under a timeout; a failed,
out-of-memory or timed-out configuration is recorded as such and the others still run.  The rows: one
448×448 solid-colour PNG + a prompt + a response from a 64-word photo vocabulary, each exactly SEQ tokens
(image tokens included) with the last SUP supervised, fitted with `vlmtune encode`.  Timing: median of the
timed steps after the warm-up steps; tokens/s = every token of the step / step time.

    bench_train_gpu.py --model DIR [--q4-model DIR] [--json OUT.json] [--md OUT.md] [--quick]
                       [--trainers vlmtune,mlx-vlm,peft] [--batches 1,4,8] [--only REGEX] [--skip REGEX]
                       [--timeout S] [--time-budget S] [--resume-json PREV.json]
    bench_train_gpu.py --merge A.json B.json ... [--json OUT.json] [--md OUT.md]
    bench_train_gpu.py --list [...]          the configurations (labels for --only/--skip), nothing run

FLOPs (the issue's count, the same for every trainer): per sample of T tokens with P image patches,
2·(F_lin·T + F_att·T²/2) + V, where F_lin = 2·(decoder linear parameters + vocab·hidden) (8.045e9 for 4B:
the forward per token, LM head at every position), F_att = 4·heads·head_dim·layers (589,824), the factor 2 is
forward + backward through the activations (weights frozen), and V is the vision tower's forward (0.58e12 for
one 448×448 image).  17.67 TFLOP per 1024-token row.  "recompute" adds one more forward of the decoder when
gradient checkpointing (3·F instead of 2·F).  A packed row's attention is block-diagonal, so each sample
counts its own T.  MFU = FLOPs per step / step time / peak (989 TFLOP/s dense bf16, H100 SXM / H200).
"""
import argparse
import json
import os
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TRAINERS = ("vlmtune", "mlx-vlm", "peft")
NAMES = {"vlmtune": "vlmtune", "mlx-vlm": "mlx-vlm 0.7.10", "peft": "transformers + PEFT"}

WORDS = ("light shadow colour frame subject horizon contrast warm cool soft hard sharp blur focus depth field "
         "texture tone highlight exposure grain lens angle portrait landscape street evening morning golden hour "
         "blue sky cloud water reflection line curve balance space centre corner edge background foreground "
         "detail noise bright dark red green yellow orange purple white black grey calm busy quiet strong gentle "
         "rich flat deep").split()
assert len(WORDS) == 64, len(WORDS)


# ------------------------------------------------------------------------------------------- FLOP count ----

def dims_of(cfg):
    """Decoder and vision-tower shapes from a Qwen3-VL config.json (either layout)."""
    t, v = cfg["text_config"], cfg["vision_config"]
    H, hd = t["hidden_size"], t.get("head_dim") or t["hidden_size"] // t["num_attention_heads"]
    q, kv, inter, L = t["num_attention_heads"] * hd, t["num_key_value_heads"] * hd, t["intermediate_size"], \
        t["num_hidden_layers"]
    per_layer = H * q + 2 * H * kv + q * H + 3 * H * inter
    D, vi, m = v["hidden_size"], v["intermediate_size"], v.get("spatial_merge_size", 2)
    W = D * m * m
    return dict(f_lin=2 * (L * per_layer + t["vocab_size"] * H), f_att=4 * q * L,
                v_lin=v["depth"] * (3 * D * D + D * D + 2 * D * vi), v_att=4 * D * v["depth"],
                v_merge=(1 + len(v.get("deepstack_visual_indexes", []))) * (W * W + W * v["out_hidden_size"]),
                merge=m * m)


def vision_flops(d, patches_per_image):
    p = patches_per_image
    return sum(2 * d["v_lin"] * x + d["v_att"] * x * x + 2 * d["v_merge"] * (x // d["merge"]) for x in p)


def sample_flops(d, T, patches_per_image, recompute=False):
    """FLOPs of one sample's training step: (2 or 3) forwards of the decoder + one of the vision tower."""
    fwd = d["f_lin"] * T + d["f_att"] * T * T / 2
    return (3 if recompute else 2) * fwd + vision_flops(d, patches_per_image)


# --------------------------------------------------------------------------------------------- rows ---------

def read_safetensors(path):
    """{name: numpy array} of a safetensors file (numpy only: the parent process never imports a framework)."""
    import numpy as np
    types = {"I32": np.int32, "U8": np.uint8, "F32": np.float32, "I64": np.int64, "U32": np.uint32}
    raw = Path(path).read_bytes()
    n, = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw, dtype=types[v["dtype"]], count=(b - a) // np.dtype(types[v["dtype"]]).itemsize,
                               offset=8 + n + a).reshape(v["shape"])
    return out


def encode(cli, model, jsonl, out, side):
    r = subprocess.run([cli, "encode", "--model", str(model), "--data", str(jsonl), "--out", str(out),
                        "--image-min-pixels", str(side * side), "--image-max-pixels", str(side * side)],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"vlmtune encode failed: {r.stderr.strip()}")
    return read_safetensors(out)


def make_rows(d, cli, model, n, side, seq, sup, log):
    """n rows of exactly `seq` tokens, the last `sup` supervised: prompt and response lengths are adjusted with
    `vlmtune encode` until every row fits.  Returns the encoded rows (numpy)."""
    from PIL import Image
    d.mkdir(parents=True, exist_ok=True)
    (d / "img").mkdir(exist_ok=True)
    rng = random.Random(0)
    words = []
    for i in range(n):
        Image.new("RGB", (side, side), (rng.randrange(256), rng.randrange(256), rng.randrange(256))).save(
            d / f"img/{i}.png")
        words.append(([rng.choice(WORDS) for _ in range(4 * seq)], [rng.choice(WORDS) for _ in range(2 * seq)]))
    n_p, n_r = [max(1, seq - sup - 250)] * n, [max(1, sup - 3)] * n   # first guess: one token a word
    for it in range(30):
        rows = [{"image": f"img/{i}.png", "prompt": "Critique this photo: " + " ".join(words[i][0][:n_p[i]]),
                 "response": " ".join(words[i][1][:n_r[i]])} for i in range(n)]
        (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        t = encode(cli, model, d / "train.jsonl", d / "enc.safetensors", side)
        off, mask = t["token_offsets"], t["loss_mask"]
        done = True
        for i in range(n):
            T = int(off[i + 1] - off[i])
            m = mask[off[i]:off[i + 1]]
            S = int(m.sum())
            if T != seq or S != sup:
                done = False
                dr = sup - S
                n_r[i] = max(1, n_r[i] + (dr if abs(dr) < 4 or it < 3 else dr // 2 or (1 if dr > 0 else -1)))
                dp = (seq - T) - dr
                n_p[i] = max(1, n_p[i] + (dp if abs(dp) < 4 or it < 3 else dp // 2 or (1 if dp > 0 else -1)))
        if done:
            break
    else:
        raise RuntimeError(f"could not fit the rows to {seq} tokens / {sup} supervised in 30 encodings")
    for i in range(n):
        m = mask[off[i]:off[i + 1]]
        if not (m[-sup:].all() and m[:-sup].sum() == 0):
            raise RuntimeError(f"row {i}: the supervised tokens are not the last {sup}")
    log(f"rows: {n} × {seq} tokens ({sup} supervised, {int(t['patch_offsets'][1] - t['patch_offsets'][0])} patches,"
        f" grid {t['image_grid_thw'][0].tolist()}), prompt {min(n_p)}–{max(n_p)} words, response "
        f"{min(n_r)}–{max(n_r)} words; fitted in {it + 1} encodings")
    return t


# ------------------------------------------------------------------------------------ configurations -------

def configurations(a):
    """Every configuration, in the order they run (most important first: a time budget cuts the tail)."""
    out = []
    add = lambda **c: out.append(dict(c, label=label(c)))  # noqa: E731
    for B in a.batches:
        for ckpt in (False, True):
            for tr in a.trainers:
                add(trainer=tr, batch=B, ckpt=ckpt, pack=0, quant="bf16")
    if "vlmtune" in a.trainers:
        for B in a.pack_batches:
            for ckpt in (False, True):
                add(trainer="vlmtune", batch=B, ckpt=ckpt, pack=a.pack_samples, quant="bf16")
    if a.q4_model:
        for B in a.q4_batches:
            for tr in ("vlmtune", "mlx-vlm"):
                if tr in a.trainers:
                    add(trainer=tr, batch=B, ckpt=False, pack=0, quant="q4")
            if "vlmtune" in a.trainers:  # the QLoRA memory target is with checkpointing
                add(trainer="vlmtune", batch=B, ckpt=True, pack=0, quant="q4")
    sel = [c for c in out if (not a.only or re.search(a.only, c["label"]))
           and not (a.skip and re.search(a.skip, c["label"]))]
    return sel


def label(c):
    s = f"{c['trainer']}-b{c['batch']}" + ("-ckpt" if c["ckpt"] else "")
    if c["pack"]:
        s += f"-pack{c['pack']}"
    if c["quant"] != "bf16":
        s += f"-{c['quant']}"
    return s


# ----------------------------------------------------------------------------------------- the parent -------

OOM = re.compile(r"out of memory|OutOfMemory|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation|"
                 r"Unable to allocate|std::bad_alloc|\[malloc\]|failed to allocate", re.I)


def classify(rc, text):
    if rc in (124, -9, 137) and "timeout" in text:
        return "timeout"
    return "oom" if OOM.search(text or "") else "failed"


def timed_run(cmd, timeout):
    """(the completed process, its wall seconds), or a timeout result when it ran past `timeout`."""
    t0 = time.time()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return dict(status="timeout", error=f"no result in {timeout:.0f} s", wall_s=time.time() - t0,
                    log=err[-2000:]), None
    return r, time.time() - t0


def run_vlmtune(c, ctx, timeout):
    run = ctx["work"] / "runs" / c["label"]
    shutil.rmtree(run, ignore_errors=True)
    seq = ctx["seq"]
    model = ctx["q4_model"] if c["quant"] == "q4" else ctx["model"]
    cmd = [ctx["cli"], "train", "--model", str(model), "--data", str(ctx["rows"] / "train.jsonl"), "--out", str(run),
           "--iters", str(ctx["warmup"] + ctx["steps"]), "--batch-size", str(c["batch"]),
           "--grad-accumulation-steps", "1", "--rank", "8", "--alpha", "16", "--dropout", "0",
           "--learning-rate", "1e-4", "--lr-schedule", "constant", "--warmup-steps", "0",
           "--steps-per-report", "1", "--steps-per-eval", "0", "--save-every", "1000000",
           "--image-min-pixels", str(ctx["side"] ** 2), "--image-max-pixels", str(ctx["side"] ** 2),
           "--max-seq-length", str(seq * c["pack"] if c["pack"] else max(seq, 2048))]
    if c["pack"]:
        cmd.append("--pack")
    if c["ckpt"]:
        cmd.append("--grad-checkpoint")
    r, wall = timed_run(cmd, timeout)
    if isinstance(r, dict):
        return r
    if r.returncode:
        text = r.stderr + r.stdout
        return dict(status=classify(r.returncode, text), error=last_line(text), wall_s=wall, log=text[-2000:])
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    lines = [x for x in lines if "ms_per_step" in x]
    timed = lines[ctx["warmup"]:]
    if not timed:
        return dict(status="failed", error=f"only {len(lines)} steps reported", wall_s=wall, log=r.stderr[-2000:])
    tok = [x["tokens_per_s"] * x["ms_per_step"] / 1e3 for x in timed if x.get("tokens_per_s")]
    est = re.search(r"about ([0-9.]+) GB at a step's peak", r.stdout)
    return dict(status="ok", step_ms=[x["ms_per_step"] for x in lines], est_gb=float(est.group(1)) if est else None,
                ms=statistics.median(x["ms_per_step"] for x in timed), peak_gb=max(x["peak_mem_gb"] for x in lines),
                wall_s=wall, loss=[x.get("loss") for x in lines],
                reported_tokens_per_step=round(statistics.median(tok)) if tok else None)


def run_worker(c, ctx, timeout):
    spec = dict(c, model=str(ctx["q4_model"] if c["quant"] == "q4" else ctx["model"]), rows=str(ctx["rows"]),
                warmup=ctx["warmup"], steps=ctx["steps"], seq=ctx["seq"], sup=ctx["sup"],
                patches=ctx["patches"], grid=ctx["grid"], device=ctx["device"], image_at=ctx["image_at"],
                result=str(ctx["work"] / "runs" / f"{c['label']}.json"))
    Path(spec["result"]).parent.mkdir(parents=True, exist_ok=True)
    Path(spec["result"]).unlink(missing_ok=True)
    py = ctx["peft_python"] if c["trainer"] == "peft" else ctx["mlx_python"]
    cmd = [py, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    r, wall = timed_run(cmd, timeout)
    if isinstance(r, dict):
        return r
    if r.returncode or not Path(spec["result"]).exists():
        text = r.stderr + r.stdout
        return dict(status=classify(r.returncode, text), error=last_line(text), wall_s=wall, log=text[-3000:])
    res = json.loads(Path(spec["result"]).read_text())
    timed = res["step_ms"][ctx["warmup"]:]
    return dict(status="ok", step_ms=res["step_ms"], ms=statistics.median(timed), peak_gb=res["peak_gb"], wall_s=wall,
                **{k: v for k, v in res.items() if k not in ("step_ms", "peak_gb")})


def last_line(text):
    lines = [x for x in (text or "").strip().splitlines() if x.strip()]
    for x in reversed(lines):   # prefer the line that says what went wrong
        if re.search(r"error|Error|memory|failed|Traceback", x):
            return x.strip()[:300]
    return lines[-1].strip()[:300] if lines else "no output"


def finish(c, res, ctx):
    """Adds tokens, FLOPs and MFU to a result."""
    r = dict(c, **res)
    samples = c["batch"] * (c["pack"] or 1)
    r["samples_per_step"] = samples
    r["tokens_per_step"] = samples * ctx["seq"]
    f = samples * sample_flops(ctx["dims"], ctx["seq"], [ctx["patches"]])
    fr = samples * sample_flops(ctx["dims"], ctx["seq"], [ctx["patches"]], recompute=c["ckpt"])
    r["tflop_per_step"], r["tflop_per_step_recompute"] = f / 1e12, fr / 1e12
    if r.get("status") == "ok":
        r["tokens_per_s"] = r["tokens_per_step"] / (r["ms"] / 1e3)
        if ctx["peak_tflops"]:
            r["mfu"] = f / (r["ms"] / 1e3) / (ctx["peak_tflops"] * 1e12)
            r["mfu_recompute"] = fr / (r["ms"] / 1e3) / (ctx["peak_tflops"] * 1e12)
    return r


# ------------------------------------------------------------------------------------------ the table -------

def fmt_ratio(x):
    return f"{x:.2f}×" if x else ""


def table(results, meta):
    ok = {(r["trainer"], r["samples_per_step"], r["ckpt"], r["quant"]): r for r in results
          if r.get("status") == "ok" and not r["pack"]}
    hdr = ("| trainer | batch | grad ckpt | ms/step | tokens/s | MFU | MFU (recompute) | peak GB "
           "| vlmtune/PEFT tok/s | vlmtune/PEFT mem | vlmtune/mlx-vlm tok/s | vlmtune/mlx-vlm mem |")
    out = [hdr, "|" + "---|" * (hdr.count("|") - 1)]
    packed_ratio = False
    for r in results:
        name = NAMES[r["trainer"]] + (" QLoRA 4-bit" if r["quant"] == "q4" else "")
        batch = str(r["batch"]) + (f" × packed {r['pack']}·{meta['seq']}" if r["pack"] else "")
        if r.get("status") != "ok":
            out.append(f"| {name} | {batch} | {'yes' if r['ckpt'] else 'no'} | {r.get('status', '?').upper()} "
                       f"| | | | | | | | |")
            continue
        cells = [name, batch, "yes" if r["ckpt"] else "no", f"{r['ms']:,.1f}", f"{r['tokens_per_s']:,.0f}",
                 f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "—",
                 f"{100 * r['mfu_recompute']:.1f}%" if r.get("mfu_recompute") is not None else "—",
                 (f"{r['peak_gb']:.2f}" if r.get("peak_gb") is not None else "—") +
                 (f" (est. {r['est_gb']:.1f})" if r.get("est_gb") else "")]
        for other in ("peft", "mlx-vlm"):
            o = ok.get((other, r["samples_per_step"], r["ckpt"], r["quant"])) if r["trainer"] == "vlmtune" else None
            if o:
                mark = "†" if r["pack"] else ""
                packed_ratio |= bool(mark)
                mem = r["peak_gb"] / o["peak_gb"] if r.get("peak_gb") and o.get("peak_gb") else None
                cells += [fmt_ratio(r["tokens_per_s"] / o["tokens_per_s"]) + mark,
                          fmt_ratio(mem) + (mark if mem else "")]
            else:
                cells += ["", ""]
        out.append("| " + " | ".join(cells) + " |")
    lines = out
    foot = ["est.: vlmtune's own estimate of the step's peak, printed before step 1 (src/model/memory.c).",
            "Ratios: vlmtune ÷ the other trainer at the same batch, checkpointing and base (tok/s > 1: vlmtune "
            f"faster; mem < 1: vlmtune smaller)."]
    if packed_ratio:
        foot.append("† packed: against the other trainer's unpacked batch of the same number of samples.")
    bad = [r for r in results if r.get("status") != "ok"]
    for r in bad:
        foot.append(f"{r['label']}: {r.get('status')} — {r.get('error', '')}")
    return "\n".join(lines), "\n".join(foot)


def header_text(meta):
    return (f"{meta.get('gpu', '?')}; {meta['model']} ({meta['layers']} layers, hidden {meta['hidden']}); "
            f"rows of {meta['seq']} tokens ({meta['sup']} supervised, one {meta['side']}×{meta['side']} image = "
            f"{meta['patches']} patches); LoRA r8/α16 on q,k,v,o,gate,up,down, AdamW lr 1e-4; median of "
            f"{meta['steps']} steps after {meta['warmup']} warm-up; FLOPs/row {meta['tflop_per_row']:.2f} TFLOP "
            f"(recompute {meta['tflop_per_row_recompute']:.2f}), peak {meta['peak_tflops']:g} TFLOP/s")


def write_outputs(a, meta, results):
    tab, foot = table(results, meta)
    md = header_text(meta) + "\n\n" + tab + "\n\n" + foot + "\n"
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    if a.md:
        Path(a.md).parent.mkdir(parents=True, exist_ok=True)
        Path(a.md).write_text(md)
    return md


# ------------------------------------------------------------------------------------------ the workers ------

def stacked_batch(rows_dir, B, step):
    import numpy as np
    t = read_safetensors(Path(rows_dir) / "enc.safetensors")
    n = len(t["token_offsets"]) - 1
    idx = [(step * B + i) % n for i in range(B)]
    ids = np.stack([t["input_ids"][t["token_offsets"][r]:t["token_offsets"][r + 1]] for r in idx]).astype(np.int32)
    pv = np.concatenate([t["pixel_values"][t["patch_offsets"][r]:t["patch_offsets"][r + 1]] for r in idx])
    grid = np.concatenate([t["image_grid_thw"][t["image_offsets"][r]:t["image_offsets"][r + 1]] for r in idx])
    return ids, pv, grid.astype(np.int32)


def worker_mlx_vlm(s):
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx_vlm.trainer.core import grad_checkpoint
    from mlx_vlm.trainer.peft.utils import get_peft_model
    from mlx_vlm.trainer.vlm.sft.trainer import vision_language_loss_fn
    from mlx_vlm.utils import load_model
    if s["device"]:
        mx.set_default_device(mx.gpu if s["device"] == "gpu" else mx.cpu)
    print(f"mlx-vlm on {mx.default_device()}", file=sys.stderr, flush=True)
    model = load_model(Path(s["model"]))
    model = get_peft_model(model, None, rank=8, alpha=16, dropout=0.0, verbose=False)
    if s["ckpt"]:   # what mlx_vlm.trainer.vlm.sft.trainer.train does with args.grad_checkpoint
        for module in model.children().values():
            if hasattr(module, "layers"):
                grad_checkpoint(module.layers[0])
    opt = optim.AdamW(learning_rate=1e-4)
    grad_fn = nn.value_and_grad(model, vision_language_loss_fn)
    B = s["batch"]
    batches = []
    for step in range(s["warmup"] + s["steps"]):
        ids, pv, grid = stacked_batch(s["rows"], B, step)
        batches.append({"input_ids": mx.array(ids), "attention_mask": mx.ones(ids.shape, dtype=mx.int32),
                        "pixel_values": mx.array(pv),   # float32 as encoded, as bench_train.py passes them
                        "image_grid_thw": mx.array(grid)})
    mx.eval(batches)
    mx.reset_peak_memory()
    times, losses = [], []
    for step, batch in enumerate(batches):
        t0 = time.perf_counter()
        loss, grads = grad_fn(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        times.append((time.perf_counter() - t0) * 1e3)
        losses.append((loss[0] if isinstance(loss, (tuple, list)) else loss).item())
        print(f"mlx-vlm step {step}: {times[-1]:.1f} ms, loss {losses[-1]:.4f}", file=sys.stderr, flush=True)
    Path(s["result"]).write_text(json.dumps({"step_ms": times, "peak_gb": mx.get_peak_memory() / 1e9,
                                             "loss": losses, "device": str(mx.default_device())}))


def worker_peft(s):
    import numpy as np
    import torch
    import transformers
    import peft
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"transformers {transformers.__version__}, peft {peft.__version__}, torch {torch.__version__} on {dev}",
          file=sys.stderr, flush=True)
    raw = json.loads((Path(s["model"]) / "config.json").read_text())
    raw.pop("quantization", None)
    cfg = Qwen3VLConfig(**{k: v for k, v in raw.items() if k not in ("architectures",)})
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    with dev:
        model = Qwen3VLForConditionalGeneration(cfg)
    torch.set_default_dtype(old)
    with torch.no_grad():   # random normal 0.02 (norm weights 1), whatever the class's own initialisation did
        for n, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, 0.02)
            elif "norm" in n and n.endswith("weight"):
                p.fill_(1.0)
    model = model.to(device=dev, dtype=torch.bfloat16)
    if s["ckpt"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lcfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none",
                      target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
    model = get_peft_model(model, lcfg)
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"trainable parameters: {trainable:,}", file=sys.stderr, flush=True)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    B, T, SUP = s["batch"], s["seq"], s["sup"]
    tc = raw["text_config"]
    n_img = s["patches"] // 4
    g = torch.Generator().manual_seed(0)
    batches = []
    for step in range(s["warmup"] + s["steps"]):
        ids = torch.randint(0, min(tc["vocab_size"], 151643), (B, T), generator=g)
        at = s["image_at"]   # where the encoded rows have their image block
        ids[:, at] = raw["vision_start_token_id"]
        ids[:, at + 1:at + 1 + n_img] = raw["image_token_id"]
        ids[:, at + 1 + n_img] = raw["vision_end_token_id"]
        labels = ids.clone()
        labels[:, :T - SUP] = -100
        pv = torch.randn(B * s["patches"], 3 * 2 * 16 * 16, generator=g)
        batches.append(dict(input_ids=ids.to(dev), labels=labels.to(dev), attention_mask=torch.ones_like(ids).to(dev),
                            use_cache=False,   # training: no KV cache (checkpointing turns it off anyway)
                            mm_token_type_ids=(ids == raw["image_token_id"]).int().to(dev),
                            pixel_values=pv.to(dev, torch.bfloat16),
                            image_grid_thw=torch.tensor([s["grid"]] * B, device=dev)))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        sync()
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for step, batch in enumerate(batches):
        t0 = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
        losses.append(loss.item())
        print(f"peft step {step}: {times[-1]:.1f} ms, loss {losses[-1]:.4f}", file=sys.stderr, flush=True)
    peak = torch.cuda.max_memory_allocated() / 1e9 if dev.type == "cuda" else None   # no allocator peak on the CPU
    Path(s["result"]).write_text(json.dumps({"step_ms": times, "peak_gb": peak, "loss": losses, "device": str(dev),
                                             "trainable": trainable}))


# ---------------------------------------------------------------------------------------------- main ---------

def ints(s):
    return [int(x) for x in s.split(",") if x.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--model", help="bf16 model directory (tokenizer.json inside)")
    ap.add_argument("--q4-model", help="4-bit model directory for the QLoRA rows (tools/quantize_mlx.py)")
    ap.add_argument("--cli", default=DEFAULT_CLI, help="the vlmtune binary (default $VT_CLI or build/vlmtune)")
    ap.add_argument("--trainers", default=",".join(TRAINERS))
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--pack-batches", default="1,2", help="batch sizes of the packed vlmtune rows ('' for none)")
    ap.add_argument("--pack-samples", type=int, default=4, help="samples per packed row (4 × 1024 = 4096 tokens)")
    ap.add_argument("--q4-batches", default="1,4")
    ap.add_argument("--only", help="run only configurations whose label matches this regex (see --list)")
    ap.add_argument("--skip", help="skip configurations whose label matches this regex")
    ap.add_argument("--list", action="store_true", help="print the configurations' labels and stop")
    ap.add_argument("--steps", type=int, default=5, help="timed steps (median)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up steps before the timed ones")
    ap.add_argument("--seq", type=int, default=1024, help="tokens per row, image tokens included")
    ap.add_argument("--sup", type=int, default=256, help="supervised tokens at the end of each row")
    ap.add_argument("--image-size", type=int, default=448)
    ap.add_argument("--rows", type=int, default=16, help="distinct rows (cycled)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per configuration")
    ap.add_argument("--first-q4-extra", type=float, default=120,
                    help="seconds added to each trainer's first 4-bit configuration: on a fresh GPU machine it "
                         "compiles MLX's quantized kernels (over 80 s on an H200; cached for later processes)")
    ap.add_argument("--time-budget", type=float, default=0,
                    help="seconds for the whole run: configurations that would start later than "
                         "budget - --min-left are recorded as skipped (0: no budget)")
    ap.add_argument("--min-left", type=float, default=40, help="seconds a configuration needs at least")
    ap.add_argument("--mlx-python", default=sys.executable, help="Python for the mlx-vlm worker (default: this one)")
    ap.add_argument("--peft-python", default=sys.executable, help="Python for the PEFT worker (default: this one)")
    ap.add_argument("--device", default="", help="cpu|gpu for mlx-vlm (default: MLX's default device)")
    ap.add_argument("--peak-tflops", type=float, default=989)
    ap.add_argument("--quick", action="store_true", help="dry run: batches 1 and 4, 2 + 3 steps, packed batch 1")
    ap.add_argument("--work", help="working directory (rows, run directories); default a temporary one")
    ap.add_argument("--json", help="write the results here (JSON)")
    ap.add_argument("--md", help="write the table here (Markdown)")
    ap.add_argument("--resume-json", help="results of an earlier run: its ok configurations are kept, not rerun")
    ap.add_argument("--merge", nargs="+", help="print one table from several result files, run nothing")
    ap.add_argument("--rows-only", action="store_true", help="write the fitted rows to WORK/rows and stop (for profiling)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.worker:
        s = json.loads(a.worker)
        {"mlx-vlm": worker_mlx_vlm, "peft": worker_peft}[s["trainer"]](s)
        return

    if a.merge:
        meta, by = None, {}
        for f in a.merge:
            d = json.loads(Path(f).read_text())
            meta = meta or d["meta"]
            for r in d["results"]:
                if r["label"] not in by or r.get("status") == "ok":
                    by[r["label"]] = r
        order = {c: i for i, c in enumerate(
            label(dict(trainer=t, batch=b, ckpt=k, pack=p, quant=q)) for q in ("bf16", "q4") for p in (0, 2, 4, 8)
            for b in (1, 2, 4, 8, 16) for k in (False, True) for t in TRAINERS)}
        results = sorted(by.values(), key=lambda r: (r["quant"] != "bf16", bool(r["pack"]), r["batch"], r["ckpt"],
                                                     TRAINERS.index(r["trainer"]), order.get(r["label"], 0)))
        print(write_outputs(a, meta, results))
        return

    if a.quick:
        a.batches, a.pack_batches, a.q4_batches = "1,4", "1", "1"
        a.steps, a.warmup = 3, 2
    a.trainers = [t for t in a.trainers.split(",") if t]
    bad = [t for t in a.trainers if t not in TRAINERS]
    if bad:
        ap.error(f"unknown trainer(s) {bad}; choose from {TRAINERS}")
    a.batches, a.pack_batches, a.q4_batches = ints(a.batches), ints(a.pack_batches), ints(a.q4_batches)
    confs = configurations(a)
    if a.list:
        print("\n".join(c["label"] for c in confs))
        return
    if not a.model:
        ap.error("--model is required")
    start = time.time()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    model = Path(a.model).resolve()
    cfg = json.loads((model / "config.json").read_text())
    dims = dims_of(cfg)
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    work.mkdir(parents=True, exist_ok=True)
    rows = work / "rows"
    t = make_rows(rows, a.cli, model, a.rows, a.image_size, a.seq, a.sup, log)
    if a.rows_only:
        log(f"rows written to {rows / 'train.jsonl'}")
        return
    patches = int(t["patch_offsets"][1] - t["patch_offsets"][0])
    grid = t["image_grid_thw"][0].tolist()
    first = t["input_ids"][:t["token_offsets"][1]].tolist()
    image_at = first.index(cfg.get("vision_start_token_id", 151652))
    gpu = ""
    if shutil.which("nvidia-smi"):
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip().splitlines()[0:1]
        gpu = gpu[0] if gpu else ""
    version = subprocess.run([a.cli, "version"], capture_output=True, text=True).stdout.strip()
    meta = dict(gpu=gpu or "no GPU", vlmtune=version, model=str(model), layers=cfg["text_config"]["num_hidden_layers"],
                hidden=cfg["text_config"]["hidden_size"], seq=a.seq, sup=a.sup, side=a.image_size, patches=patches,
                grid=grid, steps=a.steps, warmup=a.warmup, peak_tflops=a.peak_tflops, rows=a.rows,
                flop_coefficients=dict(f_lin=dims["f_lin"], f_att=dims["f_att"],
                                       vision_per_image=vision_flops(dims, [patches])),
                tflop_per_row=sample_flops(dims, a.seq, [patches]) / 1e12,
                tflop_per_row_recompute=sample_flops(dims, a.seq, [patches], recompute=True) / 1e12,
                date=time.strftime("%Y-%m-%d %H:%M:%S"), argv=sys.argv[1:])
    log(f"FLOPs per row: {meta['tflop_per_row']:.2f} TFLOP = 2·({dims['f_lin']:.4g}·T + {dims['f_att']:,}·T²/2) + "
        f"{meta['flop_coefficients']['vision_per_image'] / 1e12:.3f}e12 (vision), T = {a.seq}; with recompute "
        f"{meta['tflop_per_row_recompute']:.2f}")
    ctx = dict(cli=a.cli, model=model, q4_model=Path(a.q4_model).resolve() if a.q4_model else None, rows=rows,
               work=work, warmup=a.warmup, steps=a.steps, seq=a.seq, sup=a.sup, side=a.image_size, patches=patches,
               grid=grid, image_at=image_at, device=a.device, mlx_python=a.mlx_python, peft_python=a.peft_python,
               dims=dims, peak_tflops=a.peak_tflops)
    prev = {}
    if a.resume_json:
        if Path(a.resume_json).exists():
            prev = {r["label"]: r for r in json.loads(Path(a.resume_json).read_text())["results"]
                    if r.get("status") == "ok"}
            log(f"{len(prev)} measured configurations kept from {a.resume_json}")
        else:
            log(f"warning: {a.resume_json} does not exist; measuring everything")
    results = []
    q4_started = set()  # trainers whose 4-bit kernels are compiled (MLX caches them on disk)
    for i, c in enumerate(confs):
        if c["label"] in prev:
            results.append(prev[c["label"]])
            log(f"[{i + 1}/{len(confs)}] {c['label']}: kept from {a.resume_json}")
            continue
        left = a.time_budget - (time.time() - start) if a.time_budget else None
        if left is not None and left < a.min_left:
            results.append(finish(c, dict(status="skipped", error=f"time budget ({a.time_budget:.0f} s) spent"), ctx))
            log(f"[{i + 1}/{len(confs)}] {c['label']}: skipped (time budget)")
            write_outputs(a, meta, results)
            continue
        timeout = a.timeout
        if c["quant"] == "q4" and c["trainer"] not in q4_started:
            q4_started.add(c["trainer"])
            timeout += a.first_q4_extra
        timeout = min(timeout, left - 5) if left is not None else timeout
        log(f"[{i + 1}/{len(confs)}] {c['label']} (timeout {timeout:.0f} s) ...")
        res = run_vlmtune(c, ctx, timeout) if c["trainer"] == "vlmtune" else run_worker(c, ctx, timeout)
        r = finish(c, res, ctx)
        results.append(r)
        if r["status"] == "ok":
            log(f"    {r['ms']:.1f} ms/step, {r['tokens_per_s']:,.0f} tok/s, peak {r.get('peak_gb') or 0:.2f} GB, "
                f"MFU {100 * r.get('mfu', 0):.1f}%, wall {r['wall_s']:.0f} s; steps "
                + " ".join(f"{x:.0f}" for x in r["step_ms"]))
        else:
            log(f"    {r['status'].upper()}: {r.get('error')}  (wall {r.get('wall_s', 0):.0f} s)")
            if r.get("log"):
                log("    | " + "\n    | ".join(r["log"].strip().splitlines()[-15:]))
        write_outputs(a, meta, results)
    print(write_outputs(a, meta, results))
    log(f"total {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

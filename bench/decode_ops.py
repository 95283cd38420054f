#!/usr/bin/env python3
"""What one decoded token costs, op by op, on this machine's MLX backend — and what a LoRA adapter adds.

    decode_ops.py [--tokens N] [--runs R] [--layers L] [--rank r]

Python MLX only (no vlmtune, no weights to read): random bf16 arrays of Qwen3-VL-4B's text shapes (hidden 2560,
36 layers, 32 query and 8 key/value heads of 128, MLP 9728, vocabulary 151,936), one token at a time against a
fixed 300-token key/value history, greedy.  Two tables:

1. the cost of one operation, from a chain of 1,000 of it at decode shapes (one token): the time to build the
   chain (host) and the time to evaluate it, per operation;
2. a decode loop (embedding, L layers, head, argmax; the next step built while this one runs, as mlx-lm and
   vlmtune decode), per variant of the layers' projections:
     base            x·Wᵀ per projection (7 a layer)
     lora            + (x·A)·B, times the scale, added: 4 operations more per projection (mlx-lm, mlx-vlm)
     lora-addmm      + addmm(y, x·A, B, scale): 2 operations more per projection
     lora-grouped    q, k, v (and gate, up) share their input: one x·[A_q|A_k|A_v], then addmm per projection
     lora-gemv       + (x·A)·B added, A and B stored row by row along the reduction, the rank padded to 32 and the
                     scale in B: both products MLX CUDA's matrix-vector kernel (vlmtune's prepared adapter)
     base-compiled / lora-compiled   the layer under mx.compile
The decode loop's tokens/s is the median of R runs of N tokens; "vs base" is against the base row.
This explains bench_generate.py's adapter row on the GPU (bench/README.md); it does not replace it.
"""
import argparse
import statistics
import time

import mlx.core as mx

HID, HEADS, KV, HD, MLP, VOCAB, HIST = 2560, 32, 8, 128, 9728, 151936, 300


def rand(*shape, scale=0.02):
    return (mx.random.normal(shape) * scale).astype(mx.bfloat16)


def gemv_layout(m, pad_axis, scale=1.0):
    """m [K, N] as a [K', N] view of row-major [N, K'] storage, the rank (pad_axis) padded to a multiple of 32."""
    r = m.shape[pad_axis]
    pad = [(0, 0), (0, 0)]
    pad[pad_axis] = (0, -r % 32)
    t = mx.contiguous(mx.pad(m * scale, pad).T)
    mx.eval(t)
    return t.T


def per_op_costs(r, n=1000):
    x = rand(1, 1, HID, scale=1.0)
    w, a, b = rand(HID, HID), rand(HID, r), rand(r, HID)
    t0 = rand(1, 1, r, scale=1.0)
    at, bt = gemv_layout(a, 1), gemv_layout(b, 0)
    mx.eval(x, w, a, b, t0, at, bt)
    cases = {
        "add (elementwise)": lambda y: y + x,
        "x·Wᵀ, W 2560×2560": lambda y: y @ w.T,
        "x·A, A 2560×r": lambda y: (y @ a) @ b,          # two per link: counted as two operations below
        "addmm(y, t, B)": lambda y: mx.addmm(y, t0, b, alpha=2.0),
        "x·A, ·B laid out for gemv": lambda y: (y @ at) @ bt,
    }
    ops_per_link = {"x·A, A 2560×r": 2, "x·A, ·B laid out for gemv": 2}
    rows = []
    for name, link in cases.items():
        times = []
        for _ in range(3):
            y = x
            t = time.perf_counter()
            for _ in range(n):
                y = link(y)
            built = time.perf_counter()
            mx.eval(y)
            done = time.perf_counter()
            times.append((built - t, done - built))
        build, run = min(times, key=lambda p: p[0] + p[1])
        k = n * ops_per_link.get(name, 1)
        label = {"x·A, A 2560×r": "x·A then ·B (per matmul)",
                 "x·A, ·B laid out for gemv": "the same, gemv layout"}.get(name, name)
        rows.append((label, build / k * 1e6, run / k * 1e6))
    return rows


class Layer:
    def __init__(self, r):
        self.w = {p: rand(o, i) for p, o, i in
                  [("q", HEADS * HD, HID), ("k", KV * HD, HID), ("v", KV * HD, HID), ("o", HID, HEADS * HD),
                   ("gate", MLP, HID), ("up", MLP, HID), ("down", HID, MLP)]}
        self.a = {p: rand(self.w[p].shape[1], r) for p in self.w}
        self.b = {p: rand(r, self.w[p].shape[0]) for p in self.w}
        self.a_qkv = mx.concatenate([self.a["q"], self.a["k"], self.a["v"]], axis=1)
        self.a_gu = mx.concatenate([self.a["gate"], self.a["up"]], axis=1)
        self.a_run = {p: gemv_layout(self.a[p], 1) for p in self.w}
        self.b_run = {p: gemv_layout(self.b[p], 0, 2.0) for p in self.w}
        self.n1, self.n2 = mx.ones((HID,), mx.bfloat16), mx.ones((HID,), mx.bfloat16)
        self.qn, self.kn = mx.ones((HD,), mx.bfloat16), mx.ones((HD,), mx.bfloat16)
        self.keys, self.values = rand(1, KV, HIST, HD, scale=1.0), rand(1, KV, HIST, HD, scale=1.0)
        self.r = r

    def arrays(self):
        return [*self.w.values(), *self.a.values(), *self.b.values(), *self.a_run.values(), *self.b_run.values(),
                self.a_qkv, self.a_gu, self.keys, self.values]

    def proj(self, p, x, mode, t=None, col=0):
        y = x @ self.w[p].T
        if mode == "base":
            return y
        if mode == "lora":
            return y + 2.0 * ((x @ self.a[p]) @ self.b[p])
        if mode == "lora-gemv":
            return y + (x @ self.a_run[p]) @ self.b_run[p]
        if mode == "lora-addmm":
            return mx.addmm(y, x @ self.a[p], self.b[p], alpha=2.0)
        # grouped: t holds x·A for several projections side by side
        if t is None:
            t = x @ self.a[p]
            return mx.addmm(y, t, self.b[p], alpha=2.0)
        return mx.addmm(y, t[..., col * self.r:(col + 1) * self.r], self.b[p], alpha=2.0)

    def __call__(self, x, mode):
        grouped = mode == "lora-grouped"
        h = mx.fast.rms_norm(x, self.n1, 1e-6)
        t = h @ self.a_qkv if grouped else None
        q = self.proj("q", h, mode, t, 0).reshape(1, 1, HEADS, HD)
        k = self.proj("k", h, mode, t, 1).reshape(1, 1, KV, HD)
        v = self.proj("v", h, mode, t, 2).reshape(1, 1, KV, HD)
        q = mx.fast.rope(mx.fast.rms_norm(q, self.qn, 1e-6).transpose(0, 2, 1, 3), HD, traditional=False,
                         base=5e6, scale=1.0, offset=HIST)
        k = mx.fast.rope(mx.fast.rms_norm(k, self.kn, 1e-6).transpose(0, 2, 1, 3), HD, traditional=False,
                         base=5e6, scale=1.0, offset=HIST)
        v = v.transpose(0, 2, 1, 3)
        keys = mx.concatenate([self.keys, k], axis=2)
        values = mx.concatenate([self.values, v], axis=2)
        o = mx.fast.scaled_dot_product_attention(q, keys, values, scale=HD ** -0.5)
        o = o.transpose(0, 2, 1, 3).reshape(1, 1, HEADS * HD)
        x = x + self.proj("o", o, mode)
        h = mx.fast.rms_norm(x, self.n2, 1e-6)
        t = h @ self.a_gu if grouped else None
        g = self.proj("gate", h, mode, t, 0)
        u = self.proj("up", h, mode, t, 1)
        return x + self.proj("down", nn_silu(g) * u, mode)


def nn_silu(x):
    return x * mx.sigmoid(x)


def decode_rates(layers, embed, norm, mode, compiled, tokens, runs):
    if compiled:
        fns = [mx.compile(lambda x, l=l: l(x, mode.replace("-compiled", ""))) for l in layers]
    else:
        fns = [lambda x, l=l: l(x, mode) for l in layers]

    def step(tok):
        x = embed[tok][None, None]
        for f in fns:
            x = f(x)
        x = mx.fast.rms_norm(x, norm, 1e-6)
        return mx.argmax(x[0, -1] @ embed.T)

    rates = []
    for _ in range(runs + 1):   # the first run warms up (kernels built, compiled graphs traced)
        y = step(mx.array(1))
        mx.async_eval(y)
        t = time.perf_counter()
        for _ in range(tokens):
            nxt = step(y)
            mx.async_eval(nxt)
            y.item()
            y = nxt
        y.item()
        rates.append(tokens / (time.perf_counter() - t))
    return rates[1:]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--layers", type=int, default=36)
    p.add_argument("--rank", type=int, default=8)
    args = p.parse_args()
    print(f"MLX {mx.__version__}, device {mx.default_device()}, "
          f"{time.strftime('%Y-%m-%d')}, rank {args.rank}, {args.layers} layers\n")

    print("one operation at decode shapes (chain of 1,000; best of 3)")
    print(f"{'operation':<28}{'build µs':>10}{'run µs':>10}")
    for name, build, run in per_op_costs(args.rank):
        print(f"{name:<28}{build:>10.1f}{run:>10.1f}", flush=True)

    mx.random.seed(0)
    layers = [Layer(args.rank) for _ in range(args.layers)]
    embed, norm = rand(VOCAB, HID), mx.ones((HID,), mx.bfloat16)
    for l in layers:
        mx.eval(l.arrays())
    mx.eval(embed)
    print(f"\ndecode loop, {args.tokens} tokens, median [min–max] of {args.runs}")
    print(f"{'variant':<18}{'tok/s':>9}{'range':>16}{'ms/token':>10}{'vs base':>9}")
    base = None
    for mode in ["base", "lora", "lora-addmm", "lora-grouped", "lora-gemv", "base-compiled", "lora-compiled",
                 "lora-gemv-compiled"]:
        r = decode_rates(layers, embed, norm, mode, mode.endswith("-compiled"), args.tokens, args.runs)
        med = statistics.median(r)
        base = base or med
        print(f"{mode:<18}{med:>9.1f}{f'[{min(r):.0f}–{max(r):.0f}]':>16}{1000 / med:>10.2f}{med / base:>8.2f}×",
              flush=True)


if __name__ == "__main__":
    main()

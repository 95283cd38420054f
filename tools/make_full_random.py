#!/usr/bin/env python3
"""A full-size random Qwen3-VL-4B-Instruct checkpoint (test/bench tool; never on the product's path).

Every tensor has the real model's name, shape and dtype (bf16), in the Hugging Face
layout, sharded in two files with model.safetensors.index.json like the published
checkpoint; the config is the real model's (transformers-5 form).  Values are
normal(0, 0.02) (norm weights 1), so the model runs but says nothing.  Written
tensor by tensor, so memory stays at about one tensor (the 1.5 GB embedding).

usage: make_full_random.py OUT_DIR [--seed N] [--torch] [--layers N]
(--torch draws the values with PyTorch, on the GPU when there is one: seconds instead of minutes; other values
than numpy's, same distribution; --layers: fewer decoder layers of the same shapes, to study per-layer time
and memory on a small machine)
"""
import argparse
import json
import os
import struct

import numpy as np

TEXT = dict(hidden=2560, layers=36, heads=32, kv=8, head_dim=128, inter=9728, vocab=151936)
VISION = dict(depth=24, hidden=1024, heads=16, inter=4096, out=2560, patch=16, tp=2, merge=2, pos=2304,
              deepstack=[5, 11, 17])


def config():
    return {
        "architectures": ["Qwen3VLForConditionalGeneration"], "model_type": "qwen3_vl",
        "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
        "vision_end_token_id": 151653, "tie_word_embeddings": True, "dtype": "bfloat16",
        "text_config": {
            "model_type": "qwen3_vl_text", "hidden_size": TEXT["hidden"], "num_hidden_layers": TEXT["layers"],
            "num_attention_heads": TEXT["heads"], "num_key_value_heads": TEXT["kv"], "head_dim": TEXT["head_dim"],
            "intermediate_size": TEXT["inter"], "hidden_act": "silu", "vocab_size": TEXT["vocab"],
            "rms_norm_eps": 1e-6, "attention_bias": False, "max_position_embeddings": 262144,
            "tie_word_embeddings": True, "dtype": "bfloat16",
            "rope_parameters": {"rope_type": "default", "rope_theta": 5000000, "mrope_section": [24, 20, 20],
                                "mrope_interleaved": True},
        },
        "vision_config": {
            "model_type": "qwen3_vl", "depth": VISION["depth"], "hidden_size": VISION["hidden"],
            "num_heads": VISION["heads"], "intermediate_size": VISION["inter"], "hidden_act": "gelu_pytorch_tanh",
            "out_hidden_size": VISION["out"], "patch_size": VISION["patch"], "temporal_patch_size": VISION["tp"],
            "spatial_merge_size": VISION["merge"], "in_channels": 3, "num_position_embeddings": VISION["pos"],
            "deepstack_visual_indexes": VISION["deepstack"], "initializer_range": 0.02,
        },
    }


def tensors():
    """(name, shape) of every tensor, Hugging Face names."""
    D, I, O = VISION["hidden"], VISION["inter"], VISION["out"]
    W = D * VISION["merge"] ** 2
    v = "model.visual."
    yield v + "patch_embed.proj.weight", (D, 3, VISION["tp"], VISION["patch"], VISION["patch"])
    yield v + "patch_embed.proj.bias", (D,)
    yield v + "pos_embed.weight", (VISION["pos"], D)
    for i in range(VISION["depth"]):
        b = f"{v}blocks.{i}."
        for n in ("norm1", "norm2"):
            yield b + n + ".weight", (D,)
            yield b + n + ".bias", (D,)
        for n, shape in (("attn.qkv", (3 * D, D)), ("attn.proj", (D, D)), ("mlp.linear_fc1", (I, D)),
                         ("mlp.linear_fc2", (D, I))):
            yield b + n + ".weight", shape
            yield b + n + ".bias", (shape[0],)
    for m, norm in [("merger.", D)] + [(f"deepstack_merger_list.{k}.", W) for k in range(len(VISION["deepstack"]))]:
        yield v + m + "norm.weight", (norm,)
        yield v + m + "norm.bias", (norm,)
        yield v + m + "linear_fc1.weight", (W, W)
        yield v + m + "linear_fc1.bias", (W,)
        yield v + m + "linear_fc2.weight", (O, W)
        yield v + m + "linear_fc2.bias", (O,)
    H, hd, t = TEXT["hidden"], TEXT["head_dim"], "model.language_model."
    yield t + "embed_tokens.weight", (TEXT["vocab"], H)
    for i in range(TEXT["layers"]):
        p = f"{t}layers.{i}."
        yield p + "input_layernorm.weight", (H,)
        yield p + "post_attention_layernorm.weight", (H,)
        yield p + "self_attn.q_norm.weight", (hd,)
        yield p + "self_attn.k_norm.weight", (hd,)
        yield p + "self_attn.q_proj.weight", (TEXT["heads"] * hd, H)
        yield p + "self_attn.k_proj.weight", (TEXT["kv"] * hd, H)
        yield p + "self_attn.v_proj.weight", (TEXT["kv"] * hd, H)
        yield p + "self_attn.o_proj.weight", (H, TEXT["heads"] * hd)
        yield p + "mlp.gate_proj.weight", (TEXT["inter"], H)
        yield p + "mlp.up_proj.weight", (TEXT["inter"], H)
        yield p + "mlp.down_proj.weight", (H, TEXT["inter"])
    yield t + "norm.weight", (H,)


def bf16_bytes(rng, name, shape):
    n = int(np.prod(shape))
    if "norm" in name and name.endswith("weight") and len(shape) == 1:
        x = np.ones(n, dtype=np.float32)
    else:
        x = rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)
    return (x.view(np.uint32) >> 16).astype(np.uint16).tobytes()  # truncation to bfloat16


def bf16_bytes_torch(gen, name, shape):
    import torch
    n = int(np.prod(shape))
    if "norm" in name and name.endswith("weight") and len(shape) == 1:
        x = torch.ones(n, dtype=torch.bfloat16)
    else:
        x = (torch.randn(n, generator=gen, device=gen.device, dtype=torch.float32) * 0.02).to(torch.bfloat16)
    return x.cpu().view(torch.int16).numpy().tobytes()


def write_shard(path, items, rng):
    header, offset = {}, 0
    for name, shape in items:
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in items:
            f.write(bf16_bytes_torch(rng, name, shape) if not isinstance(rng, np.random.Generator)
                    else bf16_bytes(rng, name, shape))
    return offset


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--torch", action="store_true", help="draw with PyTorch (CUDA if available)")
    ap.add_argument("--layers", type=int, default=TEXT["layers"], help="decoder layers (the real model: 36)")
    args = ap.parse_args()
    TEXT["layers"] = args.layers
    os.makedirs(args.out, exist_ok=True)
    if args.torch:
        import torch
        rng = torch.Generator(device="cuda" if torch.cuda.is_available() else "cpu").manual_seed(args.seed)
    else:
        rng = np.random.default_rng(args.seed)
    items = list(tensors())
    total = sum(int(np.prod(s)) for _, s in items)
    half, acc, split = total // 2, 0, len(items)
    for i, (_, s) in enumerate(items):
        acc += int(np.prod(s))
        if acc >= half:
            split = i + 1
            break
    shards = [items[:split], items[split:]]
    weight_map, size = {}, 0
    for k, part in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        size += write_shard(os.path.join(args.out, fname), part, rng)
        weight_map.update({n: fname for n, _ in part})
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": size}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config(), f, indent=2)
    print(f"{total:,} parameters ({size / 1e9:.2f} GB) written to {args.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Tiny random Qwen3-VL checkpoints for tests (test-only tool; never on the product's path).

The model is built with mlx-vlm's own Qwen3-VL classes and every parameter is
randomised (norm weights and biases too, so that none of them is a no-op), then
written in the layouts users have:

  mlx/     mlx-vlm / mlx-community layout: language_model.model.*, vision_tower.*,
           patch embedding (O, T, H, W, C), one model.safetensors, rope_scaling config
  hf/      Hugging Face layout: model.language_model.*, model.visual.*, Conv3d
           (O, C, T, H, W), sharded in two files with model.safetensors.index.json,
           transformers-5 config (rope_parameters, no rope_theta)
  q4/, q8/ MLX affine-quantized (group size 32) from the same weights, mlx layout
  bf16/    the same weights in bfloat16, mlx layout

The configuration exercises what the real model has: GQA, interleaved MRoPE,
two DeepStack taps, a learned position grid that must be interpolated, tied
embeddings (or an lm_head with --untied).

Every layout also gets the two processor files the real checkpoints ship, so that
`python -m mlx_vlm.generate --image ...` runs on these models (once the tokenizer files
are copied in) and sees the prompt vlmtune sees:
  chat_template.json        Qwen3-VL-Instruct's chat template (tools/qwen3_vl_chat_template.jinja);
                            mlx-vlm and transformers take it over the tokenizer's own (Qwen3's text
                            template, which renders no image placeholders)
  preprocessor_config.json  Qwen3-VL's image settings (pixels 256²..4096², patch 16, merge 2,
                            mean = std = 0.5): vlmtune's defaults; without it mlx-vlm falls back to
                            other pixel bounds and small images get other token counts

usage: make_fixture.py OUT_DIR [--seed N] [--vocab N] [--untied] [--layouts mlx,hf,q4,q8,bf16]
(--vocab 151936 gives Qwen's real special-token ids, for use with the real tokenizer)
"""
import argparse
import json
import os
import sys

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten


def tiny_config(vocab, untied):
    # Special token ids sit at the top of the small vocabulary, like Qwen's do; with Qwen's own
    # vocabulary size (151936) they are Qwen's real ids, so the real tokenizer's output fits.
    if vocab == 151936:
        ids = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
                   vision_end_token_id=151653)
    else:
        ids = dict(image_token_id=vocab - 12, video_token_id=vocab - 11,
                   vision_start_token_id=vocab - 14, vision_end_token_id=vocab - 13)
    text = dict(
        model_type="qwen3_vl_text", hidden_size=96, num_hidden_layers=3, intermediate_size=192,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
        vocab_size=vocab, rope_theta=5000000.0, max_position_embeddings=4096,
        rope_scaling={"rope_type": "default", "mrope_section": [6, 5, 5], "mrope_interleaved": True},
        tie_word_embeddings=not untied, attention_bias=False, hidden_act="silu",
    )
    vision = dict(
        model_type="qwen3_vl", depth=4, hidden_size=64, intermediate_size=128, num_heads=4,
        out_hidden_size=96, patch_size=16, temporal_patch_size=2, spatial_merge_size=2,
        in_channels=3, num_position_embeddings=64, deepstack_visual_indexes=[0, 2],
        hidden_act="gelu_pytorch_tanh",
    )
    return dict(model_type="qwen3_vl", architectures=["Qwen3VLForConditionalGeneration"],
                text_config=text, vision_config=vision, tie_word_embeddings=not untied,
                torch_dtype="float32", **ids)


def build(config, seed, embed_scale=0.5):
    from mlx_vlm.models.qwen3_vl import qwen3_vl as q3
    from mlx_vlm.models.qwen3_vl.config import ModelConfig, TextConfig, VisionConfig

    mc = ModelConfig.from_dict(json.loads(json.dumps(config)))
    mc.text_config = TextConfig(**{k: v for k, v in config["text_config"].items()
                                   if k in TextConfig.__dataclass_fields__})
    mc.vision_config = VisionConfig(**{k: v for k, v in config["vision_config"].items()
                                       if k in VisionConfig.__dataclass_fields__})
    model = q3.Model(mc)
    mx.random.seed(seed)
    params = []
    for name, p in tree_flatten(model.parameters()):
        if name.endswith("norm.weight") or name.endswith("norm1.weight") or name.endswith("norm2.weight") \
                or "layernorm" in name:
            v = 1.0 + 0.1 * mx.random.normal(p.shape)
        elif name.endswith(".bias"):
            v = 0.1 * mx.random.normal(p.shape)
        elif "embed_tokens" in name:
            v = embed_scale * mx.random.normal(p.shape)
        elif "pos_embed" in name:
            v = 0.5 * mx.random.normal(p.shape)
        else:
            fan_in = max(1, p.size // p.shape[0])
            v = mx.random.normal(p.shape) * (1.0 / fan_in ** 0.5)
        params.append((name, v.astype(mx.float32)))
    model.update(tree_unflatten(params))
    mx.eval(model.parameters())
    return model


CHAT_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qwen3_vl_chat_template.jinja")
PREPROCESSOR = dict(size={"shortest_edge": 256 * 256, "longest_edge": 4096 * 4096}, patch_size=16,
                    temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3,
                    image_processor_type="Qwen2VLImageProcessorFast", processor_class="Qwen3VLProcessor")


def write_config(path, config):
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(CHAT_TEMPLATE, encoding="utf-8") as f:
        template = f.read()
    with open(os.path.join(path, "chat_template.json"), "w", encoding="utf-8") as f:
        json.dump({"chat_template": template}, f, indent=2, ensure_ascii=False)
    with open(os.path.join(path, "preprocessor_config.json"), "w") as f:
        json.dump(PREPROCESSOR, f, indent=2)


def save_mlx(model, config, out, dtype=None):
    os.makedirs(out, exist_ok=True)
    weights = dict(tree_flatten(model.parameters()))
    if dtype is not None:
        weights = {k: (v.astype(dtype) if mx.issubdtype(v.dtype, mx.floating) else v) for k, v in weights.items()}
        config = dict(config, torch_dtype="bfloat16")
    mx.save_safetensors(os.path.join(out, "model.safetensors"), weights, metadata={"format": "mlx"})
    write_config(out, config)


def hf_name(key):
    if key.startswith("language_model.model."):
        return "model.language_model." + key[len("language_model.model."):]
    if key.startswith("language_model.lm_head."):
        return "lm_head." + key[len("language_model.lm_head."):]
    if key.startswith("vision_tower."):
        return "model.visual." + key[len("vision_tower."):]
    raise ValueError(key)


def save_hf(model, config, out):
    os.makedirs(out, exist_ok=True)
    weights = {}
    for k, v in tree_flatten(model.parameters()):
        if k.endswith("patch_embed.proj.weight"):
            v = v.transpose(0, 4, 1, 2, 3)  # (O, T, H, W, C) -> PyTorch Conv3d (O, C, T, H, W)
        weights[hf_name(k)] = v
    names = sorted(weights)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, part in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        mx.save_safetensors(os.path.join(out, fname), {n: weights[n] for n in part}, metadata={"format": "pt"})
        weight_map.update({n: fname for n in part})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(w.nbytes for w in weights.values())}, "weight_map": weight_map},
                  f, indent=2)
    text = dict(config["text_config"])
    rope = text.pop("rope_scaling")
    text["rope_parameters"] = dict(rope, rope_theta=text.pop("rope_theta"))
    vision = dict(config["vision_config"], rope_parameters={"rope_type": "axial", "rope_theta": 10000.0})
    write_config(out, dict(config, text_config=text, vision_config=vision))


def save_quantized(config, seed, out, bits, group_size=32, embed_scale=0.5):
    model = build(config, seed, embed_scale)
    nn.quantize(model, group_size=group_size, bits=bits,
                class_predicate=lambda p, m: hasattr(m, "to_quantized") and m.weight.shape[-1] % group_size == 0
                and m.weight.size % 64 == 0)
    save_mlx(model, dict(config, quantization={"group_size": group_size, "bits": bits}), out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--embed-scale", type=float, default=0.5,
                    help="std of the token embeddings (0.02 gives a model that starts near ln(vocab), for the demo)")
    ap.add_argument("--layouts", default="mlx,hf,q4,q8,bf16")
    args = ap.parse_args()
    config = tiny_config(args.vocab, args.untied)
    layouts = args.layouts.split(",")
    model = build(config, args.seed, args.embed_scale)
    if "mlx" in layouts:
        save_mlx(model, config, os.path.join(args.out, "mlx"))
    if "hf" in layouts:
        save_hf(model, config, os.path.join(args.out, "hf"))
    if "bf16" in layouts:
        save_mlx(model, config, os.path.join(args.out, "bf16"), dtype=mx.bfloat16)
    for bits in (4, 8):
        if f"q{bits}" in layouts:
            save_quantized(config, args.seed, os.path.join(args.out, f"q{bits}"), bits, embed_scale=args.embed_scale)
    print(f"fixtures written to {args.out}: {', '.join(layouts)}", file=sys.stderr)


if __name__ == "__main__":
    main()

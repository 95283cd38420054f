#!/usr/bin/env python3
"""vlmtune's adapters against Hugging Face PEFT and transformers (the libraries PEFT users run).

Two steps, because torch lives only on the GPU machine:

  peft_parity.py prepare DIR   (here) makes the tiny fixture in both layouts, adapters with random
                               weights written by mlx-vlm's LoRA code (LoRA, DoRA, one with a vision-tower
                               module), exports each with `vlmtune convert-adapter --format peft`, fuses each
                               with `vlmtune fuse --format hf`, and records vlmtune's logits with the adapter;
  peft_parity.py compare DIR   (with torch, transformers, peft) loads the Hugging Face fixture, applies each
                               exported adapter with PeftModel.from_pretrained, loads each fused directory
                               with from_pretrained, and prints max|Δ| / max|ref| against vlmtune's logits.

Tolerance 1e-4 (float32).  Exit status 1 if any row fails.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

TOL = 1e-4
ROOT = Path(__file__).resolve().parents[1]
CASES = [("lora", False, None), ("dora", True, None), ("lora + vision qkv", False, ["q_proj", "v_proj",
                                                                                  "vision_tower.blocks.0.attn.qkv"])]


def prepare(out):
    import mlx.core as mx
    import numpy as np
    sys.path.insert(0, str(ROOT / "tests" / "py"))
    from test_lora_interop import inputs, make_mlx_vlm_adapter
    out = Path(out)
    cli = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(out / "fixture"), "--layouts", "mlx,hf"],
                   check=True)
    for i, (name, dora, layers) in enumerate(CASES):
        model = make_mlx_vlm_adapter(out / "fixture" / "mlx", out / f"mlx{i}", layers, dora, seed=i)
        ids, pv, grid = inputs(model)
        mx.save_safetensors(str(out / "in.safetensors"), {"input_ids": mx.array(ids), "pixel_values": mx.array(pv),
                                                          "image_grid_thw": mx.array(grid)})
        subprocess.run([cli, "convert-adapter", "--model", str(out / "fixture" / "hf"), "--adapter", str(out / f"mlx{i}"),
                        "--out", str(out / f"peft{i}"), "--format", "peft"], check=True)
        subprocess.run([cli, "fuse", "--model", str(out / "fixture" / "hf"), "--adapter", str(out / f"mlx{i}"),
                        "--out", str(out / f"fused{i}"), "--format", "hf"], check=True)
        subprocess.run([cli, "forward", "--model", str(out / "fixture" / "hf"), "--inputs", str(out / "in.safetensors"),
                        "--out", str(out / f"want{i}.safetensors"), "--adapter", str(out / f"peft{i}")], check=True)
    (out / "cases.json").write_text(json.dumps([c[0] for c in CASES]))
    print(f"prepared {out}")


def compare(out):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import Qwen3VLForConditionalGeneration
    out = Path(out)
    x = load_file(str(out / "in.safetensors"))
    ok = True
    print(f"{'case':28} {'PEFT on the base':>18} {'fused (hf layout)':>18}")
    for i, name in enumerate(json.loads((out / "cases.json").read_text())):
        want = load_file(str(out / f"want{i}.safetensors"))["logits"].float()
        errs = []
        for kind in ("peft", "fused"):
            if kind == "peft":
                base = Qwen3VLForConditionalGeneration.from_pretrained(str(out / "fixture" / "hf"), dtype=torch.float32)
                model = PeftModel.from_pretrained(base, str(out / f"peft{i}"))
            else:
                model = Qwen3VLForConditionalGeneration.from_pretrained(str(out / f"fused{i}"), dtype=torch.float32)
            model.eval()
            with torch.no_grad():
                ids = x["input_ids"].long()
                image = json.loads((out / "fixture" / "hf" / "config.json").read_text())["image_token_id"]
                got = model(input_ids=ids, pixel_values=x["pixel_values"], image_grid_thw=x["image_grid_thw"].long(),
                            mm_token_type_ids=(ids == image).long()).logits.float()
            errs.append(float((got - want).abs().max() / want.abs().max()))
        ok &= all(e <= TOL for e in errs)
        print(f"{name:28} {errs[0]:18.2e} {errs[1]:18.2e}")
    print("all within 1e-4" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("prepare", "compare"):
        sys.exit(__doc__)
    sys.exit(prepare(sys.argv[2]) if sys.argv[1] == "prepare" else compare(sys.argv[2]))

#!/usr/bin/env python3
"""vlmtune's Qwen3-VL forward pass against Hugging Face transformers (the model's own definition).

Two steps, because torch lives only on the GPU machine:

  hf_parity.py prepare DIR   (here, with the project's .venv) makes the tiny fixture in the
                             Hugging Face layout, the input cases, and vlmtune's outputs for them;
  hf_parity.py compare DIR   (where torch + transformers are installed) runs
                             Qwen3VLForConditionalGeneration on the same inputs in float32 and
                             prints a table of max|Δ| / max|ref| for the logits (real tokens only),
                             the vision tower's output and each DeepStack feature.

Tolerance 1e-4, as for the mlx-vlm parity tests.  Exit status 1 if any row fails.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

TOL = 1e-4
ROOT = Path(__file__).resolve().parents[1]


def cases(ids_of):
    """(name, input_ids rows, attention_mask rows or None, image grids) for the fixture's special ids."""
    import numpy as np
    rng = np.random.default_rng(7)
    txt = lambda n: [int(x) for x in rng.integers(0, 400, size=n)]  # noqa: E731
    img = lambda g: [ids_of["start"]] + [ids_of["pad"]] * (g[0] * g[1] * g[2] // 4) + [ids_of["end"]]  # noqa: E731
    g1, g2 = [1, 4, 6], [1, 8, 4]
    row0 = txt(3) + img([1, 4, 4]) + txt(4)
    row1 = txt(6)
    T = len(row0)
    return [
        ("text only", [txt(24)], None, []),
        ("one image", [txt(5) + img(g1) + txt(7)], None, [g1]),
        ("two images", [txt(4) + img(g1) + txt(3) + img(g2) + txt(6)], None, [g1, g2]),
        ("batch, left padding", [row0, [0] * (T - len(row1)) + row1],
         [[1] * T, [0] * (T - len(row1)) + [1] * len(row1)], [[1, 4, 4]]),
    ]


def prepare(out):
    import mlx.core as mx
    import numpy as np
    out = Path(out)
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(out / "fixture"), "--layouts", "hf"],
                   check=True)
    cfg = json.loads((out / "fixture" / "hf" / "config.json").read_text())
    ids_of = {"pad": cfg["image_token_id"], "start": cfg["vision_start_token_id"], "end": cfg["vision_end_token_id"]}
    cli = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
    rng = np.random.default_rng(8)
    for i, (name, ids, mask, grids) in enumerate(cases(ids_of)):
        inputs = {"input_ids": mx.array(np.array(ids, dtype=np.int32))}
        if mask is not None:
            inputs["attention_mask"] = mx.array(np.array(mask, dtype=np.int32))
        if grids:
            n = sum(t * h * w for t, h, w in grids)
            inputs["pixel_values"] = mx.array(rng.standard_normal((n, 1536)).astype(np.float32))
            inputs["image_grid_thw"] = mx.array(np.array(grids, dtype=np.int32))
        mx.save_safetensors(str(out / f"case{i}.in.safetensors"), inputs)
        subprocess.run([cli, "forward", "--model", str(out / "fixture" / "hf"), "--inputs",
                        str(out / f"case{i}.in.safetensors"), "--out", str(out / f"case{i}.out.safetensors"),
                        "--dump-vision"], check=True)
    (out / "cases.json").write_text(json.dumps([c[0] for c in cases(ids_of)]))
    print(f"prepared {out}")


def compare(out):
    import torch
    from safetensors.torch import load_file
    from transformers import Qwen3VLForConditionalGeneration
    out = Path(out)
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration.from_pretrained(str(out / "fixture" / "hf"), dtype=torch.float32)
    model.eval()
    pad_id = model.config.image_token_id
    rows, ok = [], True

    def row(name, got, want):
        nonlocal ok
        err = float((got - want).abs().max() / want.abs().max())
        ok &= err <= TOL
        rows.append((name, err, "ok" if err <= TOL else "FAIL"))

    for i, name in enumerate(json.loads((out / "cases.json").read_text())):
        inp, ours = load_file(str(out / f"case{i}.in.safetensors")), load_file(str(out / f"case{i}.out.safetensors"))
        ids = inp["input_ids"].long()
        mask = inp.get("attention_mask", torch.ones_like(ids)).long()
        kwargs = dict(input_ids=ids, attention_mask=mask, mm_token_type_ids=(ids == pad_id).long())
        if "pixel_values" in inp:
            kwargs.update(pixel_values=inp["pixel_values"], image_grid_thw=inp["image_grid_thw"].long())
        with torch.no_grad():
            ref = model(**kwargs).logits.float()
            real = mask.bool()
            row(f"{name}: logits", ours["logits"][real], ref[real])
            if "pixel_values" in inp:
                vis = model.model.visual(inp["pixel_values"], grid_thw=inp["image_grid_thw"].long())
                row(f"{name}: vision tower", ours["vision"], vis.pooler_output.float())
                for k, feat in enumerate(vis.deepstack_features):
                    row(f"{name}: DeepStack {k}", ours[f"deepstack.{k}"], feat.float())
    import transformers
    print(f"vlmtune vs transformers {transformers.__version__} (torch {torch.__version__}), float32, CPU")
    print(f"{'check':<40} {'max|Δ|/max|ref|':>16}  verdict")
    for name, err, verdict in rows:
        print(f"{name:<40} {err:>16.2e}  {verdict}")
    print(f"{sum(r[2] == 'ok' for r in rows)} passed, {sum(r[2] != 'ok' for r in rows)} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("prepare", "compare"):
        sys.exit(__doc__)
    sys.exit(prepare(sys.argv[2]) if sys.argv[1] == "prepare" else compare(sys.argv[2]))

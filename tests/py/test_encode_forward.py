"""Dataset to logits, end to end: `vlmtune encode` then `vlmtune forward` on the encoded rows (one padded
batch) against mlx-vlm run on each row alone, with a tiny model that uses Qwen's real vocabulary and the
real tokenizer.  Bar: max|Δ| / max|ref| <= 1e-4 on every real token."""
import json
import os
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
from PIL import Image

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"

mx.set_default_device(mx.cpu)


def test_dataset_to_logits(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(tmp_path / "fx"), "--vocab", "151936",
                    "--layouts", "mlx"], check=True)
    model_dir = tmp_path / "fx" / "mlx"
    rng = np.random.default_rng(0)
    for name, (w, h) in {"a.png": (90, 60), "b.png": (40, 70)}.items():
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(tmp_path / name)
    rows = [{"image": "a.png", "prompt": "Critique this photo.", "response": "Warm light, low horizon."},
            {"prompt": "Say hi.", "response": "Hi!"},
            {"messages": [{"role": "user", "content": [{"type": "image", "image": "b.png"},
                                                       {"type": "text", "text": "Colour?"}]},
                          {"role": "assistant", "content": "Mostly blue."}]}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    enc, out = tmp_path / "enc.safetensors", tmp_path / "out.safetensors"
    subprocess.run([CLI, "encode", "--model", str(TOKENIZER), "--data", str(tmp_path / "d.jsonl"), "--out", str(enc),
                    "--image-min-pixels", "4096", "--image-max-pixels", "16384"], check=True)
    subprocess.run([CLI, "forward", "--model", str(model_dir), "--inputs", str(enc), "--out", str(out)], check=True)
    logits = np.array(mx.load(str(out))["logits"])
    e = {k: np.array(v) for k, v in mx.load(str(enc)).items()}

    from mlx_vlm.utils import load_model
    model = load_model(model_dir)
    for r in range(len(rows)):
        ids = e["input_ids"][e["token_offsets"][r]: e["token_offsets"][r + 1]]
        kwargs = {}
        i0, i1 = e["image_offsets"][r], e["image_offsets"][r + 1]
        if i1 > i0:
            p0, p1 = e["patch_offsets"][r], e["patch_offsets"][r + 1]
            kwargs = dict(pixel_values=mx.array(e["pixel_values"][p0:p1]), image_grid_thw=mx.array(e["image_grid_thw"][i0:i1]))
        ref = np.array(model(mx.array(ids[None]), **kwargs).logits[0].astype(mx.float32))
        got = logits[r, : len(ids)]
        err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
        print(f"row {r}: {len(ids)} tokens, max|Δ|/max|ref| = {err:.2e}")
        assert err <= 1e-4, f"row {r}: {err}"

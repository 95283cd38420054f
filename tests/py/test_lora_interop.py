"""Adapters written by mlx-vlm's own LoRA code (0.7.10) load into vlmtune with the same logits.

mlx-vlm loads adapters non-strictly (a misnamed tensor is a silent no-op), so every check compares
logits with the adapter against logits without it, and both against mlx-vlm's.  The adapters get
random non-zero B matrices (a fresh adapter is the identity and would prove nothing).

Tolerance: max|Δ| / max|ref| <= 1e-4 (float32 on the CPU); the adapter must move the logits by
more than 100× that bound, so a dropped adapter cannot pass.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOL = 1e-4

mx.set_default_device(mx.cpu)


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(out)], check=True)
    return out


def load(path):
    from mlx_vlm.utils import load_model
    return load_model(Path(path))


def inputs(model):
    c = model.config
    rng = np.random.default_rng(7)
    grid = [1, 4, 4]
    ids = list(rng.integers(0, 400, 5)) + [c.vision_start_token_id] + [c.image_token_id] * 4 + \
        [c.vision_end_token_id] + list(rng.integers(0, 400, 6))
    pv = rng.standard_normal((16, 3 * 2 * 16 * 16)).astype(np.float32)
    return np.array([ids], dtype=np.int32), pv, np.array([grid], dtype=np.int32)


def mlx_vlm_logits(model, ids, pv, grid):
    out = model(mx.array(ids), pixel_values=mx.array(pv), image_grid_thw=mx.array(grid))
    return np.array(out.logits.astype(mx.float32))


def vlmtune_logits(model_dir, tmp_path, ids, pv, grid, adapter=None, expect_fail=False):
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    mx.save_safetensors(str(src), {"input_ids": mx.array(ids), "pixel_values": mx.array(pv),
                                   "image_grid_thw": mx.array(grid)})
    cmd = [CLI, "forward", "--model", str(model_dir), "--inputs", str(src), "--out", str(dst)]
    if adapter:
        cmd += ["--adapter", str(adapter)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if expect_fail:
        assert r.returncode != 0, "vlmtune accepted a bad adapter"
        return r.stderr
    assert r.returncode == 0, r.stderr
    return np.array(mx.load(str(dst))["logits"])


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def make_mlx_vlm_adapter(model_dir, out_dir, linear_layers=None, dora=False, seed=0):
    """mlx-vlm's get_peft_model + random weights + its own save_adapter."""
    from mlx_vlm.trainer.peft.utils import get_peft_model, save_adapter
    model = load(model_dir)
    model = get_peft_model(model, linear_layers, rank=4, alpha=8, dropout=0.0, verbose=False, use_dora=dora)
    mx.random.seed(seed)
    new = []
    for name, value in tree_flatten(model.trainable_parameters()):
        if name.endswith("lora_b") or name.endswith("lora_a"):
            value = 0.05 * mx.random.normal(value.shape)
        elif name.endswith(".m"):
            value = value * (1 + 0.1 * mx.random.normal(value.shape))
        new.append((name, value))
    model.load_weights(new, strict=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_adapter(model, out_dir / "adapters.safetensors")
    return model


@pytest.mark.parametrize("base,dora,layers", [
    ("mlx", False, None),
    ("q4", False, None),
    ("mlx", True, None),
    ("mlx", False, ["q_proj", "v_proj", "vision_tower.blocks.0.attn.qkv", "vision_tower.blocks.1.mlp.linear_fc2",
                    "vision_tower.merger.linear_fc1"]),
])
def test_mlx_vlm_adapter_loads_with_same_logits(fixtures, tmp_path, base, dora, layers):
    adapter = tmp_path / "adapter"
    model = make_mlx_vlm_adapter(fixtures / base, adapter, layers, dora)
    ids, pv, grid = inputs(model)
    want = mlx_vlm_logits(model, ids, pv, grid)
    plain = vlmtune_logits(fixtures / base, tmp_path, ids, pv, grid)
    got = vlmtune_logits(fixtures / base, tmp_path, ids, pv, grid, adapter)
    assert rel(plain, want) > 100 * TOL, "the adapter does not change mlx-vlm's logits: the test proves nothing"
    assert rel(got, want) <= TOL
    # and mlx-vlm's loader, given the same directory, agrees
    from mlx_vlm.trainer.peft.utils import apply_lora_layers
    reloaded = apply_lora_layers(load(fixtures / base), adapter)
    assert rel(mlx_vlm_logits(reloaded, ids, pv, grid), want) <= TOL


def test_adapter_for_another_model_is_an_error(fixtures, tmp_path):
    adapter = tmp_path / "adapter"
    model = make_mlx_vlm_adapter(fixtures / "mlx", adapter)
    ids, pv, grid = inputs(model)
    cfg = json.loads((adapter / "adapter_config.json").read_text())

    cfg2 = json.loads(json.dumps(cfg))
    cfg2["lora_parameters"]["keys"].append("language_model.model.layers.40.self_attn.q_proj")
    (adapter / "adapter_config.json").write_text(json.dumps(cfg2))
    err = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, adapter, expect_fail=True)
    assert "layers.40.self_attn.q_proj" in err and "another model" in err

    cfg2 = json.loads(json.dumps(cfg))
    cfg2["lora_parameters"]["rank"] = 8
    (adapter / "adapter_config.json").write_text(json.dumps(cfg2))
    err = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, adapter, expect_fail=True)
    assert "lora_a" in err and "rank 8" in err

    cfg2 = json.loads(json.dumps(cfg))
    cfg2["lora_parameters"]["keys"] = cfg2["lora_parameters"]["keys"][1:]
    (adapter / "adapter_config.json").write_text(json.dumps(cfg2))
    err = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, adapter, expect_fail=True)
    assert "belongs to no adapted layer" in err

    (adapter / "adapter_config.json").unlink()
    err = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, adapter, expect_fail=True)
    assert "adapter_config.json is missing" in err


def test_adapter_with_wrong_shapes_is_an_error(fixtures, tmp_path):
    adapter = tmp_path / "adapter"
    model = make_mlx_vlm_adapter(fixtures / "mlx", adapter)
    ids, pv, grid = inputs(model)
    weights = dict(mx.load(str(adapter / "adapters.safetensors")))
    name = "language_model.model.layers.1.mlp.down_proj.lora_b"
    weights[name] = mx.zeros((4, weights[name].shape[1] + 1))
    mx.save_safetensors(str(adapter / "adapters.safetensors"), weights)
    err = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, adapter, expect_fail=True)
    assert name in err and "expected" in err

"""PEFT adapter directories: import into vlmtune, export from it, with logits checked against mlx-vlm.

The PEFT side is written here from PEFT's documented layout (CI has no torch, so no `peft`):
adapter_model.safetensors with "base_model.model.<Hugging Face module>.lora_A.weight" [r, in],
".lora_B.weight" [out, r] (DoRA: ".lora_magnitude_vector" [out]); adapter_config.json with peft_type LORA,
r, lora_alpha, use_dora, use_rslora, target_modules.  The same adapter in mlx-vlm's format, applied by
mlx-vlm, gives the reference logits (max|Δ| / max|ref| <= 1e-4).
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_lora_interop import (CLI, TOL, fixtures, inputs, make_mlx_vlm_adapter,  # noqa: E402,F401
                               mlx_vlm_logits, rel, vlmtune_logits)

HF = [("language_model.model.", "model.language_model."), ("vision_tower.", "model.visual.")]


def hf_name(name):
    for mlx, hf in HF:
        if name.startswith(mlx):
            return hf + name[len(mlx):]
    return name


def write_peft(mlx_adapter, out, rslora=False):
    cfg = json.loads((mlx_adapter / "adapter_config.json").read_text())
    lp = cfg["lora_parameters"]
    w = mx.load(str(mlx_adapter / "adapters.safetensors"))
    peft = {}
    for name, v in w.items():
        module, part = name.rsplit(".", 1)
        key = "base_model.model." + hf_name(module)
        if part == "lora_a":
            peft[key + ".lora_A.weight"] = v.T
        elif part == "lora_b":
            peft[key + ".lora_B.weight"] = v.T
        else:
            peft[key + ".lora_magnitude_vector"] = v
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "adapter_model.safetensors"), peft, metadata={"format": "pt"})
    r = lp["rank"]
    alpha = lp["scale"] * (math.sqrt(r) if rslora else r)
    (out / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
        "use_dora": cfg["fine_tune_type"] == "dora", "use_rslora": rslora, "bias": "none",
        "target_modules": sorted({k.rsplit(".", 1)[-1] for k in lp["keys"]}), "rank_pattern": {}, "alpha_pattern": {}}))
    return peft


@pytest.mark.parametrize("dora,rslora,layers", [
    (False, False, None), (True, False, None), (False, True, None),
    (False, False, ["q_proj", "vision_tower.blocks.0.attn.qkv"])])
def test_peft_adapter_imports_with_the_same_logits(fixtures, tmp_path, dora, rslora, layers):
    mlx_adapter = tmp_path / "mlx"
    model = make_mlx_vlm_adapter(fixtures / "mlx", mlx_adapter, layers, dora)
    ids, pv, grid = inputs(model)
    want = mlx_vlm_logits(model, ids, pv, grid)
    write_peft(mlx_adapter, tmp_path / "peft", rslora)
    got = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, tmp_path / "peft")
    assert rel(vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid), want) > 100 * TOL
    assert rel(got, want) <= TOL


@pytest.mark.parametrize("dora", [False, True])
def test_export_to_peft_and_back(fixtures, tmp_path, dora):
    mlx_adapter = tmp_path / "mlx"
    model = make_mlx_vlm_adapter(fixtures / "mlx", mlx_adapter, None, dora)
    ids, pv, grid = inputs(model)
    want_tensors = write_peft(mlx_adapter, tmp_path / "expected")
    r = subprocess.run([CLI, "convert-adapter", "--model", str(fixtures / "mlx"), "--adapter", str(mlx_adapter),
                        "--out", str(tmp_path / "peft"), "--format", "peft"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = mx.load(str(tmp_path / "peft" / "adapter_model.safetensors"))
    assert set(got) == set(want_tensors)
    for k, v in want_tensors.items():
        assert np.array_equal(np.array(got[k]), np.array(v)), k
    cfg = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    lp = json.loads((mlx_adapter / "adapter_config.json").read_text())["lora_parameters"]
    assert cfg["peft_type"] == "LORA" and cfg["r"] == lp["rank"] and cfg["use_dora"] == dora
    assert abs(cfg["lora_alpha"] / cfg["r"] - lp["scale"]) < 1e-12
    assert sorted(cfg["target_modules"]) == sorted(hf_name(k) for k in lp["keys"])
    r = subprocess.run([CLI, "convert-adapter", "--model", str(fixtures / "mlx"), "--adapter", str(tmp_path / "peft"),
                        "--out", str(tmp_path / "back"), "--format", "mlx"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    want = mlx_vlm_logits(model, ids, pv, grid)
    assert rel(vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, tmp_path / "back"), want) <= TOL


def test_bad_peft_adapters_are_errors(fixtures, tmp_path):
    mlx_adapter = tmp_path / "mlx"
    model = make_mlx_vlm_adapter(fixtures / "mlx", mlx_adapter)
    ids, pv, grid = inputs(model)
    peft = tmp_path / "peft"
    tensors = write_peft(mlx_adapter, peft)
    cfg = json.loads((peft / "adapter_config.json").read_text())
    (peft / "adapter_config.json").write_text(json.dumps(dict(cfg, rank_pattern={"q_proj": 4})))
    err = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, peft, expect_fail=True)
    assert "rank_pattern" in err
    (peft / "adapter_config.json").write_text(json.dumps(dict(cfg, r=16)))
    err = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, peft, expect_fail=True)
    assert "lora_a" in err and "rank 16" in err
    (peft / "adapter_config.json").write_text(json.dumps(cfg))
    tensors["model.layers.0.q_proj.weight"] = mx.zeros((2, 2))
    mx.save_safetensors(str(peft / "adapter_model.safetensors"), tensors)
    err = vlmtune_logits(fixtures / "mlx", tmp_path, ids, pv, grid, peft, expect_fail=True)
    assert "model.layers.0.q_proj.weight" in err and "base_model.model." in err

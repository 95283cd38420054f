"""vlmtune fuse: the fused directory loads in mlx-vlm (0.7.10, strictly) with the logits of base + adapter.

Adapters come from mlx-vlm's own LoRA code with random non-zero weights (a fresh adapter is the
identity and would prove nothing).  References: float bases — `vlmtune forward --adapter` (the
adapter on the fly, itself checked against mlx-vlm in test_lora_interop.py) and mlx-vlm's own model with
the adapter; a 4-bit base kept quantized — mlx-vlm's own LoRALinear.fuse(dequantize=False), which
re-quantizes the same way.  Tolerance: max|Δ| / max|ref| <= 1e-4 (float32, CPU).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_lora_interop import (CLI, TOL, fixtures, inputs, load, make_mlx_vlm_adapter,  # noqa: E402,F401
                               mlx_vlm_logits, rel, vlmtune_logits)


def fuse(model, adapter, out, *extra):
    r = subprocess.run([CLI, "fuse", "--model", str(model), "--adapter", str(adapter), "--out", str(out), *extra],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def strict_load(path):
    """mlx-vlm's loader with strict weights: every tensor it expects present, nothing left over."""
    from mlx_vlm.utils import load_model
    return load_model(Path(path), strict=True)


@pytest.mark.parametrize("base,dora,layers,extra", [
    ("mlx", False, None, []),
    ("hf", False, None, []),
    ("mlx", True, None, []),
    ("mlx", False, ["q_proj", "vision_tower.blocks.0.attn.qkv", "vision_tower.merger.linear_fc1"], []),
    ("q4", False, None, ["--dequantize"]),
    ("mlx", False, None, ["--format", "hf"]),
])
def test_fused_model_equals_base_plus_adapter(fixtures, tmp_path, base, dora, layers, extra):
    adapter = tmp_path / "adapter"
    # mlx-vlm 0.7.10 cannot read the transformers-5 config of the hf fixture: the adapter is made on the
    # mlx fixture, which holds the same weights
    model = make_mlx_vlm_adapter(fixtures / ("mlx" if base == "hf" else base), adapter, layers, dora)
    ids, pv, grid = inputs(model)
    want = vlmtune_logits(fixtures / base, tmp_path, ids, pv, grid, adapter)
    assert rel(vlmtune_logits(fixtures / base, tmp_path, ids, pv, grid), want) > 100 * TOL
    out = fuse(fixtures / base, adapter, tmp_path / "fused", *extra)
    assert rel(mlx_vlm_logits(strict_load(out), ids, pv, grid), want) <= TOL
    assert rel(vlmtune_logits(out, tmp_path, ids, pv, grid), want) <= TOL
    names = set(mx.load(str(out / "model.safetensors")))
    if "--format" in extra:
        assert any(n.startswith("model.language_model.") for n in names)
    else:
        assert all(n.startswith(("language_model.", "vision_tower.")) for n in names)
    if "--dequantize" in extra:
        assert not any(n.endswith(".scales") for n in names)
        assert "quantization" not in json.loads((out / "config.json").read_text())
    for f in ("tokenizer.json", "config.json") if (fixtures / base / "tokenizer.json").exists() else ("config.json",):
        assert (out / f).is_file()


def test_quantized_base_is_requantized_like_mlx_vlm(fixtures, tmp_path):
    from mlx_vlm.trainer.peft.utils import apply_lora_layers
    adapter = tmp_path / "adapter"
    make_mlx_vlm_adapter(fixtures / "q4", adapter)
    out = fuse(fixtures / "q4", adapter, tmp_path / "fused")
    ref = apply_lora_layers(load(fixtures / "q4"), adapter)
    fused = [(n, m.fuse(dequantize=False)) for n, m in ref.named_modules() if hasattr(m, "fuse") and hasattr(m, "lora_a")]
    ref.update_modules(__import__("mlx.utils", fromlist=["tree_unflatten"]).tree_unflatten(fused))
    ids, pv, grid = inputs(ref)
    want = mlx_vlm_logits(ref, ids, pv, grid)
    names = set(mx.load(str(out / "model.safetensors")))
    assert any(n.endswith("q_proj.scales") for n in names), "the fused layers must stay quantized"
    assert rel(mlx_vlm_logits(strict_load(out), ids, pv, grid), want) <= TOL


def test_fuse_refuses_a_foreign_adapter(fixtures, tmp_path):
    adapter = tmp_path / "adapter"
    make_mlx_vlm_adapter(fixtures / "mlx", adapter)
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    cfg["lora_parameters"]["rank"] = 6
    (adapter / "adapter_config.json").write_text(json.dumps(cfg))
    r = subprocess.run([CLI, "fuse", "--model", str(fixtures / "mlx"), "--adapter", str(adapter), "--out",
                        str(tmp_path / "fused")], capture_output=True, text=True)
    assert r.returncode == 1 and "rank 6" in r.stderr and not (tmp_path / "fused").exists()


def test_fuse_never_loses_a_directory(fixtures, tmp_path):
    """--out must be new, empty, or a model fuse wrote (holding nothing else), and never an input however
    it is named; the fused model replaces an earlier one in one step, leaving no temporary directory."""
    import shutil
    base = tmp_path / "base"  # a copy: a failure here must not damage the shared fixture
    shutil.copytree(fixtures / "mlx", base)
    adapter = tmp_path / "adapter"
    make_mlx_vlm_adapter(base, adapter)
    snapshot = lambda d: {f.name: f.read_bytes() for f in d.iterdir()}  # noqa: E731
    before = (snapshot(base), snapshot(adapter))

    def run(out):
        return subprocess.run([CLI, "fuse", "--model", str(base), "--adapter", str(adapter), "--out", str(out)],
                              capture_output=True, text=True)

    (tmp_path / "link").symlink_to(base)
    same_as_input = [base, f"{base}/", tmp_path / "adapter" / ".." / "base", tmp_path / "link", adapter,
                     f"{adapter}//", tmp_path]  # tmp_path holds both inputs
    for out in same_as_input:
        r = run(out)
        assert r.returncode != 0 and "fuse never writes over its input" in r.stderr, (out, r.stderr)
    assert (snapshot(base), snapshot(adapter)) == before

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    r = run(notes)
    assert r.returncode != 0 and "holds 'todo.txt'" in r.stderr and "nothing was written" in r.stderr, r.stderr
    assert snapshot(notes) == {"todo.txt": b"mine"}

    fused = tmp_path / "fused"
    assert run(f"{fused}/").returncode == 0  # new, named with a trailing slash
    first = snapshot(fused)
    assert ".vlmtune-fused" in first and "model.safetensors" in first
    assert set((fused / ".vlmtune-fused").read_text().splitlines()[1:]) == set(first) - {".vlmtune-fused"}
    assert run(fused).returncode == 0  # fuse's own output may be replaced...
    assert snapshot(fused) == first
    (fused / "README.md").write_text("my notes on this model")
    r = run(fused)  # ...unless something was added to it
    assert r.returncode != 0 and "holds 'README.md', which vlmtune did not write" in r.stderr, r.stderr
    assert (fused / "README.md").read_text() == "my notes on this model"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(empty).returncode == 0 and (empty / "model.safetensors").is_file()
    assert run(adapter / "fused").returncode == 0  # inside an input is not over it
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]

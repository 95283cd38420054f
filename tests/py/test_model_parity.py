"""vlmtune's Qwen3-VL forward pass against mlx-vlm's (pinned 0.7.10), on the CPU, float32.

Tolerance: max|Δ| / max|ref| <= 1e-4 for logits, the vision tower's output and
every DeepStack feature.  The reference is mlx-vlm's own Qwen3-VL model loaded
from the same fixture (tools/make_fixture.py); inputs are built here.
"""
import os
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOL = 1e-4

mx.set_default_device(mx.cpu)


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def reference(fixtures):
    from mlx_vlm.utils import load_model
    return {name: load_model(fixtures / name) for name in ("mlx", "q4", "q8", "bf16")}


def config_ids(model):
    c = model.config
    return c.image_token_id, c.vision_start_token_id, c.vision_end_token_id


def image_tokens(model, grid):
    pad, start, end = config_ids(model)
    t, h, w = grid
    return [start] + [pad] * (t * h * w // 4) + [end]


def text(rng, n):
    return list(rng.integers(0, 400, size=n))  # below every special id of the fixture


def pixels(rng, grids):
    n = sum(t * h * w for t, h, w in grids)
    return rng.standard_normal((n, 3 * 2 * 16 * 16)).astype(np.float32)


def run_vlmtune(model_dir, tmp_path, ids, mask=None, pv=None, grids=None, dump=False):
    inputs = {"input_ids": mx.array(np.array(ids, dtype=np.int32))}
    if mask is not None:
        inputs["attention_mask"] = mx.array(np.array(mask, dtype=np.int32))
    if pv is not None:
        inputs["pixel_values"] = mx.array(pv)
        inputs["image_grid_thw"] = mx.array(np.array(grids, dtype=np.int32))
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    mx.save_safetensors(str(src), inputs)
    cmd = [CLI, "forward", "--model", str(model_dir), "--inputs", str(src), "--out", str(dst)]
    if dump:
        cmd.append("--dump-vision")
    subprocess.run(cmd, check=True)
    return {k: np.array(v) for k, v in mx.load(str(dst)).items()}


def reference_logits(model, ids, pv=None, grids=None):
    kwargs = {}
    if pv is not None:
        kwargs = dict(pixel_values=mx.array(pv), image_grid_thw=mx.array(np.array(grids, dtype=np.int32)))
    out = model(mx.array(np.array(ids, dtype=np.int32)), **kwargs)
    return np.array(out.logits.astype(mx.float32))


def rel_err(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def check(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs reference {want.shape}"
    err = rel_err(got, want)
    print(f"{what}: max|Δ|/max|ref| = {err:.2e}")
    assert err <= TOL, f"{what}: max|Δ|/max|ref| = {err:.3g} > {TOL}"


def test_text_only(fixtures, reference, tmp_path):
    model = reference["mlx"]
    ids = [text(np.random.default_rng(1), 24)]
    check(run_vlmtune(fixtures / "mlx", tmp_path, ids)["logits"], reference_logits(model, ids), "text only")


def test_one_image(fixtures, reference, tmp_path):
    rng = np.random.default_rng(2)
    model = reference["mlx"]
    grids = [[1, 4, 6]]
    ids = [text(rng, 5) + image_tokens(model, grids[0]) + text(rng, 7)]
    pv = pixels(rng, grids)
    got = run_vlmtune(fixtures / "mlx", tmp_path, ids, pv=pv, grids=grids, dump=True)
    check(got["logits"], reference_logits(model, ids, pv, grids), "one image")
    merged, deepstack = model.vision_tower(mx.array(pv), mx.array(np.array(grids, dtype=np.int32)))
    check(got["vision"], np.array(merged), "vision tower output")
    assert len(deepstack) == 2
    for k, feature in enumerate(deepstack):
        check(got[f"deepstack.{k}"], np.array(feature), f"DeepStack feature {k}")


def test_two_images_of_different_sizes(fixtures, reference, tmp_path):
    rng = np.random.default_rng(3)
    model = reference["mlx"]
    grids = [[1, 4, 6], [1, 8, 4]]  # non-square, different sizes, in one sequence
    ids = [text(rng, 4) + image_tokens(model, grids[0]) + text(rng, 3) + image_tokens(model, grids[1]) + text(rng, 6)]
    pv = pixels(rng, grids)
    got = run_vlmtune(fixtures / "mlx", tmp_path, ids, pv=pv, grids=grids, dump=True)
    check(got["logits"], reference_logits(model, ids, pv, grids), "two images")
    merged, _ = model.vision_tower(mx.array(pv), mx.array(np.array(grids, dtype=np.int32)))
    check(got["vision"], np.array(merged), "vision tower output, two images")


def test_batch_with_padding(fixtures, reference, tmp_path):
    """Two rows of different lengths, one with an image; each padded row must give the
    logits of that row run alone (the reference, unpadded), right- and left-padded."""
    rng = np.random.default_rng(4)
    model = reference["mlx"]
    grids = [[1, 4, 4]]
    row0 = text(rng, 3) + image_tokens(model, grids[0]) + text(rng, 4)
    row1 = text(rng, 6)
    pv = pixels(rng, grids)
    want0 = reference_logits(model, [row0], pv, grids)[0]
    want1 = reference_logits(model, [row1])[0]
    T = len(row0)
    pad = 0
    for side in ("right", "left"):
        if side == "right":
            ids = [row0, row1 + [pad] * (T - len(row1))]
            mask = [[1] * T, [1] * len(row1) + [0] * (T - len(row1))]
            rows1 = slice(0, len(row1))
        else:
            ids = [row0, [pad] * (T - len(row1)) + row1]
            mask = [[1] * T, [0] * (T - len(row1)) + [1] * len(row1)]
            rows1 = slice(T - len(row1), T)
        got = run_vlmtune(fixtures / "mlx", tmp_path, ids, mask=mask, pv=pv, grids=grids)["logits"]
        check(got[0], want0, f"batch row 0 ({side} padding)")
        check(got[1][rows1], want1, f"batch row 1 ({side} padding)")


def test_layouts_agree(fixtures, tmp_path):
    """The Hugging Face layout (sharded, Conv3d, transformers-5 config) gives the same logits as mlx's."""
    rng = np.random.default_rng(5)
    grids = [[1, 4, 6]]
    from mlx_vlm.utils import load_config  # noqa: F401  (the fixture is built with mlx-vlm)
    pad, start, end = 500, 498, 499  # the fixture's ids for vocab 512 (see tools/make_fixture.py)
    ids = [text(rng, 5) + [start] + [pad] * 6 + [end] + text(rng, 3)]
    pv = pixels(rng, grids)
    a = run_vlmtune(fixtures / "mlx", tmp_path, ids, pv=pv, grids=grids)["logits"]
    b = run_vlmtune(fixtures / "hf", tmp_path, ids, pv=pv, grids=grids)["logits"]
    assert rel_err(b, a) <= 1e-6, f"HF layout differs from mlx layout: {rel_err(b, a):.3g}"


@pytest.mark.parametrize("name", ["q4", "q8"])
def test_quantized(fixtures, reference, tmp_path, name):
    rng = np.random.default_rng(6)
    model = reference[name]
    grids = [[1, 4, 4]]
    ids = [text(rng, 4) + image_tokens(model, grids[0]) + text(rng, 5)]
    pv = pixels(rng, grids)
    check(run_vlmtune(fixtures / name, tmp_path, ids, pv=pv, grids=grids)["logits"],
          reference_logits(model, ids, pv, grids), f"{name} quantized")


@pytest.mark.parametrize("dtype", ["bf16", "f16"])
def test_half_precision(fixtures, reference, tmp_path, dtype):
    """bf16 (as stored) and fp16 checkpoints against mlx-vlm on the same weights; bar 2e-2 (half precision)."""
    rng = np.random.default_rng(9)
    model_dir = fixtures / "bf16"
    model = reference["bf16"]
    if dtype == "f16":  # the float32 fixture's weights stored as float16
        model_dir = tmp_path / "f16"
        model_dir.mkdir()
        w = mx.load(str(fixtures / "mlx" / "model.safetensors"))
        mx.save_safetensors(str(model_dir / "model.safetensors"), {k: v.astype(mx.float16) for k, v in w.items()})
        (model_dir / "config.json").write_text((fixtures / "mlx" / "config.json").read_text())
        from mlx_vlm.utils import load_model
        model = load_model(model_dir)
    grids = [[1, 4, 4]]
    ids = [text(rng, 4) + image_tokens(model, grids[0]) + text(rng, 5)]
    pv = pixels(rng, grids)
    got = run_vlmtune(model_dir, tmp_path, ids, pv=pv, grids=grids)["logits"]
    want = reference_logits(model, ids, pv, grids)
    err = rel_err(got, want)
    print(f"{dtype}: max|Δ|/max|ref| = {err:.2e}")
    assert err <= 2e-2

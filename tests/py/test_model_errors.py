"""Bad model directories and bad inputs: each one a clear error from the CLI, never a crash."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(out), "--layouts", "mlx,hf"],
                   check=True)
    return out


def copy(fixtures, tmp_path, layout="mlx"):
    dst = tmp_path / layout
    shutil.copytree(fixtures / layout, dst)
    return dst


def fails(args, *fragments):
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)
    assert r.returncode == 1, f"expected exit 1, got {r.returncode}: {r.stderr}"
    assert r.stderr.startswith(f"vlmtune {args[0]}: "), r.stderr
    assert r.stderr.count("\n") == 1, f"one error line expected: {r.stderr!r}"
    for f in fragments:
        assert f in r.stderr, f"{f!r} not in {r.stderr!r}"


def edit_config(model_dir, fn):
    path = model_dir / "config.json"
    cfg = json.loads(path.read_text())
    fn(cfg)
    path.write_text(json.dumps(cfg))


def edit_weights(model_dir, fn):
    path = model_dir / "model.safetensors"
    w = dict(mx.load(str(path)))
    fn(w)
    mx.save_safetensors(str(path), w)


def test_missing_config_field(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    edit_config(d, lambda c: c["text_config"].pop("hidden_size"))
    fails(["info", "--model", d], "config.json: text_config: missing field \"hidden_size\"")


def test_wrong_type_in_config(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    edit_config(d, lambda c: c["vision_config"].update(depth="four"))
    fails(["info", "--model", d], "vision_config: field \"depth\" must be an integer")


def test_unsupported_model_type(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    edit_config(d, lambda c: c.update(model_type="llava"))
    fails(["info", "--model", d], "model_type 'llava' is not supported")


def test_malformed_config(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    (d / "config.json").write_text('{"model_type": "qwen3_vl",\n "text_config": {')
    fails(["info", "--model", d], "config.json:2:", "malformed JSON")


def test_shape_mismatch(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    name = "language_model.model.layers.1.self_attn.q_proj.weight"
    edit_weights(d, lambda w: w.update({name: mx.zeros((64, 96))}))
    fails(["info", "--model", d], f"tensor '{name}' has shape [64, 96], expected [128, 96]")


def test_missing_tensor(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    name = "vision_tower.blocks.2.mlp.linear_fc1.bias"
    edit_weights(d, lambda w: w.pop(name))
    fails(["info", "--model", d], f"tensor '{name}' is missing")


def test_unknown_tensor(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    edit_weights(d, lambda w: w.update({"language_model.model.layers.9.extra.weight": mx.zeros((2,))}))
    fails(["info", "--model", d], "unknown tensor 'language_model.model.layers.9.extra.weight'")


def test_truncated_safetensors(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    path = d / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    fails(["info", "--model", d], "model.safetensors: truncated")


def test_corrupt_safetensors(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    (d / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    fails(["info", "--model", d], "model.safetensors: corrupt")


def test_index_names_missing_shard(fixtures, tmp_path):
    d = copy(fixtures, tmp_path, "hf")
    (d / "model-00002-of-00002.safetensors").unlink()
    fails(["info", "--model", d], "names shard 'model-00002-of-00002.safetensors', which is missing")


def test_no_weights(fixtures, tmp_path):
    d = copy(fixtures, tmp_path)
    (d / "model.safetensors").unlink()
    fails(["info", "--model", d], "no model.safetensors or model.safetensors.index.json")


def forward_inputs(tmp_path, ids, grid=None, rows=None):
    inputs = {"input_ids": mx.array(np.array([ids], dtype=np.int32))}
    if grid is not None:
        inputs["pixel_values"] = mx.zeros((rows, 1536))
        inputs["image_grid_thw"] = mx.array(np.array([grid], dtype=np.int32))
    path = tmp_path / "in.safetensors"
    mx.save_safetensors(str(path), inputs)
    return path


def test_image_tokens_do_not_match_grid(fixtures, tmp_path):
    ids = [1, 2, 498] + [500] * 5 + [499, 3]  # 5 pads; a (1, 4, 6) grid needs 6
    src = forward_inputs(tmp_path, ids, [1, 4, 6], 24)
    fails(["forward", "--model", fixtures / "mlx", "--inputs", src, "--out", tmp_path / "o.safetensors"],
          "image 0 has 5 <|image_pad|> tokens but its grid (1, 4, 6) needs 6")


def test_pixel_rows_do_not_match_grid(fixtures, tmp_path):
    ids = [1, 498] + [500] * 6 + [499]
    src = forward_inputs(tmp_path, ids, [1, 4, 6], 20)
    fails(["forward", "--model", fixtures / "mlx", "--inputs", src, "--out", tmp_path / "o.safetensors"],
          "pixel_values has 20 rows but the image grids add up to 24 patches")


def test_token_outside_vocabulary(fixtures, tmp_path):
    src = forward_inputs(tmp_path, [1, 2, 512])
    fails(["forward", "--model", fixtures / "mlx", "--inputs", src, "--out", tmp_path / "o.safetensors"],
          "token id 512 at row 0, column 2 is outside the vocabulary [0, 512)")


def test_missing_inputs_tensor(fixtures, tmp_path):
    path = tmp_path / "in.safetensors"
    mx.save_safetensors(str(path), {"ids": mx.zeros((1, 3), dtype=mx.int32)})
    fails(["forward", "--model", fixtures / "mlx", "--inputs", path, "--out", tmp_path / "o.safetensors"],
          "tensor 'input_ids' is missing")

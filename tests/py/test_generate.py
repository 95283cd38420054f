"""vlmtune generate against mlx-vlm 0.7.10's own generation (generate_step, greedy), token for token.

A tiny fixture with Qwen's vocabulary and tokenizer, with and without an adapter (random weights from
mlx-vlm's LoRA code, so the answers are not one repeated token).  The prompt ids and pixels both sides
see come from `vlmtune encode` (checked against the chat template and the image processor elsewhere),
cut at the generation prompt.  Also: the KV-cache decoder equals the full-recompute one, the
end-of-turn id stops generation, a seed makes sampling repeatable, and bad flags are errors.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_lora_interop import make_mlx_vlm_adapter  # noqa: E402

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"
N = 24

mx.set_default_device(mx.cpu)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(d / "fx"), "--vocab", "151936",
                    "--layouts", "mlx"], check=True)
    model = d / "fx" / "mlx"
    assert (TOKENIZER / "tokenizer.json").is_file(), "the Qwen3 tokenizer is missing: run tools/setup.sh --test"
    for f in TOKENIZER.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    Image.new("RGB", (64, 96), (30, 120, 200)).save(d / "a.png")
    Image.new("RGB", (80, 48), (200, 120, 30)).save(d / "b.png")
    make_mlx_vlm_adapter(model, d / "adapter", seed=3)
    return model, d


def prompt_inputs(model, d, images, prompt):
    row = {"messages": [{"role": "user", "content": [{"type": "image", "image": str(d / i)} for i in images] +
                         [{"type": "text", "text": prompt}]}, {"role": "assistant", "content": "x"}]}
    (d / "p.jsonl").write_text(json.dumps(row) + "\n")
    subprocess.run([CLI, "encode", "--model", str(model), "--data", str(d / "p.jsonl"), "--out", str(d / "p.safetensors")],
                   check=True, capture_output=True)
    t = {k: np.array(v) for k, v in mx.load(str(d / "p.safetensors")).items()}
    first = int(np.nonzero(t["loss_mask"])[0][0])  # the answer starts after "<|im_start|>assistant\n"
    return t["input_ids"][:first], t.get("pixel_values"), t.get("image_grid_thw")


def reference(model_dir, adapter, ids, pv, grid):
    from mlx_vlm.generate.ar import generate_step
    from mlx_vlm.trainer.peft.utils import apply_lora_layers
    from mlx_vlm.utils import load_model
    model = load_model(Path(model_dir))
    if adapter:
        model = apply_lora_layers(model, adapter)
    kwargs = {"image_grid_thw": mx.array(grid.astype(np.int32))} if grid is not None else {}
    out = []
    for (tok, _), _ in zip(generate_step(mx.array(ids[None].astype(np.int32)), model,
                                         mx.array(pv) if pv is not None else None, None, temperature=0.0,
                                         max_tokens=N, **kwargs), range(N)):
        out.append(int(tok))
    return out


def vlmtune(model, d, images, prompt, *extra, n=N, env=None):
    cmd = [CLI, "generate", "--model", str(model), "--prompt", prompt, "--max-tokens", str(n), "--print-ids", *extra]
    for i in images:
        cmd += ["--image", str(d / i)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, r.stderr
    line = [l for l in r.stderr.splitlines() if l.startswith("ids:")]
    return [int(x) for x in line[0][4:].split()] if line else [], r


@pytest.mark.parametrize("images", [[], ["a.png"], ["a.png", "b.png"]])
@pytest.mark.parametrize("with_adapter", [False, True])
def test_greedy_equals_mlx_vlm(setup, images, with_adapter):
    model, d = setup
    adapter = d / "adapter" if with_adapter else None
    ids, pv, grid = prompt_inputs(model, d, images, "Describe the photo.")
    want = reference(model, adapter, ids, pv, grid)
    extra = ["--ignore-eos"] + (["--adapter", str(adapter)] if adapter else [])
    got, r = vlmtune(model, d, images, "Describe the photo.", *extra)
    assert got == want
    uncached, _ = vlmtune(model, d, images, "Describe the photo.", *extra, "--no-cache")
    assert uncached == got
    assert "tokens/s" in r.stderr and "peak memory" in r.stderr


# The adapter's copies laid out for a GPU's matrix-vector kernel (rank 4 padded to 32 with zeros, stored row by
# row along the reduction, the scale in B) are the same products: mlx-vlm's answer, on the CPU as on a GPU.
@pytest.mark.parametrize("layout", ["gemv", "plain"])
def test_both_adapter_layouts_give_mlx_vlms_answer(setup, layout):
    model, d = setup
    ids, pv, grid = prompt_inputs(model, d, ["a.png"], "Describe the photo.")
    want = reference(model, d / "adapter", ids, pv, grid)
    got, _ = vlmtune(model, d, ["a.png"], "Describe the photo.", "--ignore-eos", "--adapter", str(d / "adapter"),
                     env={"VLMTUNE_ADAPTER_LAYOUT": layout})
    assert got == want


def test_an_unknown_adapter_layout_is_an_error(setup):
    model, d = setup
    r = subprocess.run([CLI, "generate", "--model", str(model), "--prompt", "Hi", "--adapter", str(d / "adapter")],
                       capture_output=True, text=True, env=dict(os.environ, VLMTUNE_ADAPTER_LAYOUT="fast"))
    assert r.returncode == 1 and "VLMTUNE_ADAPTER_LAYOUT is 'fast': expected gemv or plain" in r.stderr, r.stderr


def test_sampling_is_repeatable_and_top_k_1_is_greedy(setup):
    model, d = setup
    extra = ["--ignore-eos", "--adapter", str(d / "adapter")]
    greedy, _ = vlmtune(model, d, ["a.png"], "Hi", *extra)
    a, _ = vlmtune(model, d, ["a.png"], "Hi", *extra, "--temp", "1.5", "--seed", "7")
    b, _ = vlmtune(model, d, ["a.png"], "Hi", *extra, "--temp", "1.5", "--seed", "7")
    c, _ = vlmtune(model, d, ["a.png"], "Hi", *extra, "--temp", "1.5", "--seed", "8")
    k1, _ = vlmtune(model, d, ["a.png"], "Hi", *extra, "--temp", "1.5", "--top-k", "1", "--seed", "9")
    assert a == b and a != c and k1 == greedy


def test_stops_at_the_end_of_turn_and_bad_flags_are_errors(setup, tmp_path):
    model, d = setup
    greedy, _ = vlmtune(model, d, [], "Hi", "--ignore-eos")
    (tmp_path / "m").mkdir()
    for f in model.iterdir():
        (tmp_path / "m" / f.name).write_bytes(f.read_bytes())
    (tmp_path / "m" / "generation_config.json").write_text(json.dumps({"eos_token_id": [greedy[3]]}))
    stopped, _ = vlmtune(tmp_path / "m", d, [], "Hi")
    assert stopped == greedy[:greedy.index(greedy[3])]
    r = subprocess.run([CLI, "generate", "--model", str(model), "--prompt", "x", "--temp", "hot"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "--temp" in r.stderr
    r = subprocess.run([CLI, "generate", "--model", str(model), "--prompt", "x", "--image", str(d / "missing.png")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "missing.png" in r.stderr


def test_cache_steps_and_prefill_chunks_keep_the_reference_answer(setup):
    """The preallocated cache grows in steps of 256 tokens and the prompt's text after the last image is
    prefilled in chunks: crossing a step while decoding, or inside a prefill chunk, still gives the
    full-recompute decoder's greedy answer.  (A 300-token answer would cross the same step at ~10× the cost:
    --no-cache recomputes the whole sequence per token.)"""
    model, d = setup
    extra = ["--ignore-eos", "--adapter", str(d / "adapter")]
    sentences = [f"Describe the colours, the light and the mood of photo number {i}." for i in range(20)]
    prompt = " ".join(sentences[:10])
    want, r = vlmtune(model, d, ["a.png"], prompt, *extra, "--no-cache", n=40)
    n_prompt = int(r.stderr.split("prompt: ")[1].split()[0])
    assert n_prompt < 256 < n_prompt + 40 and len(want) == 40  # the decode crosses the first cache step
    for chunk in [[], ["--prefill-step-size", "100"], ["--prefill-step-size", "7"]]:
        got, _ = vlmtune(model, d, ["a.png"], prompt, *extra, *chunk, n=40)
        assert got == want, chunk
    # a longer text-only prompt in chunks of 60: the chunk at 240..300 crosses the step
    prompt = " ".join(sentences)
    want, r = vlmtune(model, d, [], prompt, *extra, "--no-cache", n=8)
    n_prompt = int(r.stderr.split("prompt: ")[1].split()[0])
    assert n_prompt > 256  # so the chunk from 240 writes across the step
    got, _ = vlmtune(model, d, [], prompt, *extra, "--prefill-step-size", "60", n=8)
    assert got == want

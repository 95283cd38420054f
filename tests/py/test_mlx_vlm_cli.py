"""A vlmtune-trained adapter through mlx-vlm 0.7.10's own command line.

A tiny fixture model (tools/make_fixture.py: Qwen3-VL architecture, Qwen's vocabulary and tokenizer,
Qwen3-VL's chat template and preprocessor_config.json) is trained for a few steps with `vlmtune train`;
then `python -m mlx_vlm.generate --model M --adapter-path RUN --image IMG --prompt P` must run and
generate.  Before the fixture shipped Qwen3-VL's template it failed: the tokenizer's own (Qwen3's text
template) renders no image placeholder ("0 image placeholders, but 1 images were supplied").

The prompt both sides feed the model must be the same:
  * mlx-vlm's prompt ids, built as its CLI builds them (apply_chat_template, then prepare_inputs with the
    processor), equal vlmtune's encoding of the same one-turn prompt up to the generation prompt
    (`vlmtune encode` cut where the answer starts), and `vlmtune generate` reports that many prompt tokens;
  * greedy decoding then gives the same text from `vlmtune generate --adapter RUN` as from mlx-vlm's CLI
    (float32 on the CPU on both sides; test_generate.py checks the decoders token for token);
  * and the adapter matters: mlx-vlm's greedy text without it is different.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"
MAX_TOKENS = 5

# (prompt, system): a plain one, and one with newlines where they meet the template's own
PROMPTS = [("Critique this photo.", None), ("\nWhat colour is the subject?\n", "\nBe brief. ")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlxvlm")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(d / "fx"), "--vocab", "151936",
                    "--layouts", "mlx"], check=True)
    model = d / "fx" / "mlx"
    assert (TOKENIZER / "tokenizer.json").is_file(), "the Qwen3 tokenizer is missing: run tools/setup.sh --test"
    for f in TOKENIZER.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    assert (model / "chat_template.json").is_file(), "make_fixture.py wrote no chat_template.json"
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_demo_data.py"), str(d / "data"), "--train", "4",
                    "--valid", "0", "--test", "0", "--size", "64"], check=True)
    run = d / "run"
    r = subprocess.run([CLI, "train", "--model", str(model), "--data", str(d / "data" / "train.jsonl"), "--out",
                        str(run), "--iters", "3", "--batch-size", "2", "--learning-rate", "1e-2", "--seed", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (run / "adapters.safetensors").is_file() and (run / "adapter_config.json").is_file()
    image = d / "data" / "images" / "00000.png"
    return model, run, image, d


def mlx_vlm_generate(model, image, prompt, system, adapter=None):
    cmd = [sys.executable, "-m", "mlx_vlm.generate", "--model", str(model), "--image", str(image), "--prompt", prompt,
           "--max-tokens", str(MAX_TOKENS), "--temperature", "0"]
    cmd += ["--system", system] if system is not None else []
    cmd += ["--adapter-path", str(adapter)] if adapter else []
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.endswith("\n") and len(r.stdout) > 1, f"mlx-vlm generated nothing: {r.stdout!r} {r.stderr}"
    return r.stdout[:-1]


def mlx_vlm_prompt_ids(model, image, prompt, system):
    """The ids mlx-vlm's CLI feeds the model (mlx_vlm/generate/dispatch.py: apply_chat_template, then
    prepare_inputs with the processor)."""
    from mlx_vlm.prompt_utils import apply_chat_template
    from mlx_vlm.utils import load, prepare_inputs, should_add_special_tokens
    m, processor = load(str(model))
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [prompt]
    text = apply_chat_template(processor, m.config, messages, num_images=1, enable_thinking=False)
    inputs = prepare_inputs(processor, images=[str(image)], prompts=text,
                            image_token_index=getattr(m.config, "image_token_index", None),
                            add_special_tokens=should_add_special_tokens(m.config.model_type, processor))
    return np.array(inputs["input_ids"])[0].tolist()


def vlmtune_prompt_ids(model, image, prompt, system, d):
    """vlmtune's ids for the prompt and the generation prompt: the encoded row cut where the answer starts
    (the answer "x" merges with nothing, so the cut is the end of "<|im_start|>assistant\\n")."""
    row = {"image": str(image), "prompt": prompt, "response": "x", **({"system": system} if system else {})}
    (d / "p.jsonl").write_text(json.dumps(row) + "\n")
    subprocess.run([CLI, "encode", "--model", str(model), "--data", str(d / "p.jsonl"), "--out",
                    str(d / "p.safetensors")], check=True, capture_output=True)
    t = {k: np.array(v) for k, v in mx.load(str(d / "p.safetensors")).items()}
    first = int(np.nonzero(t["loss_mask"])[0][0])
    return t["input_ids"][:first].tolist()


@pytest.mark.parametrize("prompt,system", PROMPTS)
def test_mlx_vlm_cli_runs_the_adapter_on_vlmtunes_prompt(trained, prompt, system):
    model, run, image, d = trained
    want = mlx_vlm_prompt_ids(model, image, prompt, system)
    assert want.count(151655) == 64, "a 64×64 image is 256×256 after resizing: 64 image tokens"
    assert vlmtune_prompt_ids(model, image, prompt, system, d) == want

    cmd = [CLI, "generate", "--model", str(model), "--adapter", str(run), "--image", str(image), "--prompt", prompt,
           "--max-tokens", str(MAX_TOKENS), "--temp", "0"] + (["--system", system] if system is not None else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert int(re.search(r"prompt: (\d+) tokens", r.stderr).group(1)) == len(want)
    tuned = mlx_vlm_generate(model, image, prompt, system, adapter=run)
    assert tuned == r.stdout[:-1], f"mlx-vlm {tuned!r} vs vlmtune {r.stdout[:-1]!r}"
    assert mlx_vlm_generate(model, image, prompt, system) != tuned, "the adapter changed nothing in mlx-vlm"

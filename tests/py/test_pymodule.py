"""The Python module (python/vlmtune, ctypes over include/vlmtune.h) beside the CLI.

It is a thin layer, so its results must be the CLI's to the last bit: vlmtune.train gives the losses of
`vlmtune train` (metrics.jsonl) and resumes a run it cancelled from another thread; Model.generate streams
the greedy answer of `vlmtune generate`; Model.eval gives `vlmtune eval`'s figures; a failed call raises
VlmtuneError with the C library's message, and a callback's exception stops the call and comes back out.
The module loads the build's libvlmtune.so (VLMTUNE_LIBRARY); tests/py/test_wheel.py runs it from the wheel.
"""
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_generate import CLI, setup  # noqa: E402,F401
from test_train import LR, WD, metrics, train as cli_train  # noqa: E402

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("VT_BUILD_DIR", ROOT / "build"))


@pytest.fixture(scope="module")
def vlmtune():
    os.environ["VLMTUNE_LIBRARY"] = str(BUILD / "libvlmtune.so")
    sys.path.insert(0, str(ROOT / "python"))
    import vlmtune
    return vlmtune


def same_losses(got, want):
    """metrics.jsonl holds 15 significant digits where they read back within cJSON's tolerance (a double
    printed by cJSON may differ from it in the 16th digit), so equal means within 1e-14."""
    return len(got) == len(want) and got == pytest.approx(want, rel=1e-14, abs=0)


# The settings tests/py/test_train.py's CLI runs use, as keyword overrides.
SETTINGS = dict(learning_rate=LR, weight_decay=WD, lr_schedule="constant", warmup_steps=0, max_grad_norm=0,
                steps_per_report=1, seed=3, batch_size=2, dropout=0.1)


def test_train_gives_the_cli_losses_cancelled_from_another_thread_and_resumed(vlmtune, train_setup, tmp_path):
    model, data = train_setup
    cli_train(model, data, tmp_path / "cli", "--iters", "4", "--batch-size", "2", "--dropout", "0.1")
    want = [m["loss"] for m in metrics(tmp_path / "cli")]
    assert len(want) == 4
    cancel, second_step = vlmtune.Cancel(), threading.Event()
    canceller = threading.Thread(target=lambda: (second_step.wait(), cancel.cancel()))
    canceller.start()
    seen = []

    def progress(p):
        seen.append(p)
        if p.step == 2:
            second_step.set()
            canceller.join()  # the flag is set before the trainer looks at it after this step

    r = vlmtune.train(model=model, data=data / "train.jsonl", out=tmp_path / "py", iters=4, save_every=2,
                      cancel=cancel, on_progress=progress, **SETTINGS)
    assert r.interrupted and r.steps_done == 2 and r.last_loss == seen[-1].loss and cancel.requested
    assert [(p.step, p.total_steps, p.reported) for p in seen] == [(1, 4, True), (2, 4, True)]
    cancel.reset()
    r = vlmtune.train(resume=tmp_path / "py", cancel=cancel, on_progress=seen.append)
    assert same_losses([p.loss for p in seen], want), ([p.loss for p in seen], want)
    assert r.steps_done == 4 and not r.interrupted


def test_errors_carry_the_c_message(vlmtune, train_setup, tmp_path):
    model, data = train_setup
    with pytest.raises(vlmtune.VlmtuneError, match="rank must be at least 1"):
        vlmtune.train(model=model, data=data / "train.jsonl", out=tmp_path / "r", rank=0)
    with pytest.raises(vlmtune.VlmtuneError, match=str(tmp_path / "none")):
        vlmtune.Model(tmp_path / "none")

    def boom(p):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        vlmtune.train(model=model, data=data / "train.jsonl", out=tmp_path / "b", iters=4, on_progress=boom, **SETTINGS)
    assert (tmp_path / "b").is_dir()  # cancelled after its first step, with a checkpoint


def test_generate_streams_the_cli_answer(vlmtune, setup):
    model, d = setup
    args = ["--model", model, "--adapter", d / "adapter", "--image", d / "a.png", "--prompt", "Critique this photo.",
            "--max-tokens", "24"]
    cli = subprocess.run([CLI, "generate", *map(str, args)], capture_output=True, text=True, check=True)
    pieces = []
    with vlmtune.Model(model, adapter=d / "adapter") as m:
        assert m.last_generation() == dict(prompt_tokens=0, generated_tokens=0, prompt_seconds=0, generate_seconds=0)
        answer = m.generate("Critique this photo.", images=[d / "a.png"], max_tokens=24, on_text=pieces.append)
        assert answer == cli.stdout.rstrip("\n") and len(pieces) > 1 and "".join(pieces) == answer
        # the sizes the CLI reports ("prompt: N tokens, ...; generation: M tokens, ...")
        sizes = re.search(r"prompt: (\d+) tokens, .*; generation: (\d+) tokens", cli.stderr)
        st = m.last_generation()
        assert (st["prompt_tokens"], st["generated_tokens"]) == (int(sizes[1]), int(sizes[2])), (st, cli.stderr)
        assert st["prompt_seconds"] > 0 and st["generate_seconds"] > 0
        assert "".join(m.stream("Critique this photo.", [d / "a.png"], max_tokens=24)) == answer
        assert m.generation_defaults["max_tokens"] == 256
        lo, hi = m.image_pixels
        m.set_image_pixels(0, hi * 2)
        assert m.image_pixels == (lo, hi * 2)
        with pytest.raises(vlmtune.VlmtuneError, match="nope.png"):
            m.generate("x", images=[d / "nope.png"])
        with pytest.raises(vlmtune.VlmtuneError, match="need 0 <= min_pixels <= max_pixels"):
            m.set_image_pixels(10, 5)


def test_eval_equals_the_cli(vlmtune, setup, train_setup):
    model, d = setup
    data = train_setup[1]
    cli = subprocess.run([CLI, "eval", "--model", str(model), "--adapter", str(d / "adapter"), "--data",
                          str(data / "valid.jsonl"), "--generate", "--max-tokens", "16"], capture_output=True, text=True,
                         check=True)
    rows = []
    with vlmtune.Model(model, adapter=d / "adapter") as m:
        r = m.eval(data / "valid.jsonl", generate=True, max_tokens=16, on_row=rows.append)
    got = (f"{r.rows} rows, {r.tokens} supervised tokens, loss {r.loss:.4f}, perplexity {r.perplexity:.3f}, "
           f"exact match {100 * r.exact_match:.1f}%, token F1 {r.f1:.3f}")
    assert got == cli.stdout.split("valid.jsonl: ", 1)[1].strip()
    assert [row.index for row in rows] == list(range(r.rows)) and all(row.generated is not None for row in rows)


# On a bf16 model the Python module applies the adapter prepared once (vt_lora_prepare: cast to bf16, the scale
# in B, and with the gemv layout the rank padded to 32 and the matrices stored row by row along the reduction),
# the CLI casts it at every use: the same products, so the same loss to the last digit printed.
@pytest.mark.parametrize("layout", ["gemv", "plain"])
def test_eval_on_a_bf16_model_equals_the_cli(vlmtune, setup, train_setup, tmp_path, monkeypatch, layout):
    monkeypatch.setenv("VLMTUNE_ADAPTER_LAYOUT", layout)
    import mlx.core as mx
    model, d = setup
    bf16 = tmp_path / "bf16"
    shutil.copytree(model, bf16)
    weights = mx.load(str(bf16 / "model.safetensors"))
    mx.save_safetensors(str(bf16 / "model.safetensors"),
                        {k: v.astype(mx.bfloat16) if v.dtype == mx.float32 else v for k, v in weights.items()},
                        metadata={"format": "mlx"})
    valid = train_setup[1] / "valid.jsonl"
    cli = subprocess.run([CLI, "eval", "--model", str(bf16), "--adapter", str(d / "adapter"), "--data", str(valid)],
                         capture_output=True, text=True, check=True)
    with vlmtune.Model(bf16, adapter=d / "adapter") as m:
        r = m.eval(valid)
    assert f"loss {r.loss:.4f}, perplexity {r.perplexity:.3f}" in cli.stdout, cli.stdout


def test_estimate_memory_is_the_dry_runs_and_writes_nothing(vlmtune, train_setup, tmp_path):
    model, data = train_setup
    args = dict(model=model, data=data / "train.jsonl", out=tmp_path / "run", iters=3, batch_size=2)
    e = vlmtune.estimate_memory(**args)
    assert e.train_rows > 0 and e.total_steps == 3 and e.trainable_params > 0
    assert 0 < e.setup_bytes < e.peak_bytes and e.available_bytes > 0
    cli = [str(CLI), "train", "--dry-run"] + [x for k, v in args.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    r = subprocess.run(cli, capture_output=True, text=True)
    assert r.returncode == 0 and "nothing was written" in r.stdout, r.stdout + r.stderr
    assert f"about {e.peak_bytes / 1e9:.2f} GB at a step's peak" in r.stdout, r.stdout
    assert not (tmp_path / "run").exists()

"""The public C API (include/vlmtune.h) beside the CLI.

The example program (examples/critique.c) loads a model with an adapter through vlmtune_load and streams a
greedy answer through vlmtune_generate; the answer must be the CLI's (`vlmtune generate`, itself equal to
mlx-vlm's greedy output, test_generate.py) and errors must come back through vlmtune_last_error.  Through
tests/api_driver.c: training and resume through the API give the CLI's losses, API generation reads
generation_config.json as the CLI does, and vlmtune_eval gives `vlmtune eval`'s figures.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_generate import CLI, setup  # noqa: E402,F401

BUILD = Path(os.environ.get("VT_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
EXAMPLE = BUILD / "examples" / "critique"


def test_example_streams_the_cli_answer(setup):
    model, d = setup
    assert EXAMPLE.is_file(), f"{EXAMPLE} was not built"
    r = subprocess.run([str(EXAMPLE), str(model), str(d / "adapter"), str(d / "a.png"), "Critique this photo."],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cli = subprocess.run([CLI, "generate", "--model", str(model), "--adapter", str(d / "adapter"), "--image",
                          str(d / "a.png"), "--prompt", "Critique this photo.", "--max-tokens", "64"],
                         capture_output=True, text=True, check=True)
    text = r.stdout.rsplit("\n[", 1)[0]
    assert text == cli.stdout.rstrip("\n") and len(text) > 0
    assert r.stdout.rstrip().endswith(f"[{len(text.encode())} bytes]")


def test_example_reports_errors(setup, tmp_path):
    model, d = setup
    r = subprocess.run([str(EXAMPLE), str(tmp_path), "-", str(d / "a.png")], capture_output=True, text=True)
    assert r.returncode == 1 and "critique:" in r.stderr and str(tmp_path) in r.stderr
    r = subprocess.run([str(EXAMPLE), str(model), "-", str(d / "nope.png")], capture_output=True, text=True)
    assert r.returncode == 1 and "nope.png" in r.stderr


# ------------------------------------------------------------------------------------------------
# The C API beside the CLI: the same settings give the same results (tests/api_driver.c drives the API).

DRIVER = BUILD / "tests" / "api_driver"


def driver(*args, check=True):
    r = subprocess.run([str(DRIVER), *map(str, args)], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def losses_of(text):
    return {int(l.split()[1]): float(l.split()[3]) for l in text.splitlines() if l.startswith("step ")}


def test_api_training_and_resume_equal_the_cli(train_setup, tmp_path):
    from test_train import metrics, train
    model, data = train_setup
    common = ["--iters", "6", "--save-every", "3", "--batch-size", "2", "--valid", str(data / "valid.jsonl"),
              "--steps-per-eval", "3", "--dropout", "0.1"]
    train(model, data, tmp_path / "cli", *common)
    want = {m["step"]: m["loss"] for m in metrics(tmp_path / "cli")}
    assert sorted(want) == [1, 2, 3, 4, 5, 6]
    # the same run through the API, stopped through the stop flag after step 3, resumed by the API
    args = ["--model", model, "--data", data / "train.jsonl", "--out", tmp_path / "api", "--learning-rate", "1e-3",
            "--weight-decay", "0.01", "--lr-schedule", "constant", "--warmup-steps", "0", "--max-grad-norm", "0",
            "--steps-per-report", "1", "--seed", "3", *common]
    first = driver("train", "--stop-at", 3, "x", *args)
    assert "interrupted 1" in first.stdout and "done 3 steps" in first.stdout
    again = driver("train", "x", "--resume", tmp_path / "api")
    got = {**losses_of(first.stdout), **losses_of(again.stdout)}
    assert got == pytest.approx(want, rel=0, abs=0), (got, want)
    # and the CLI resumes a run the API started (from its step-3 checkpoint: a copy of the stopped run)
    assert {m["step"]: m["loss"] for m in metrics(tmp_path / "api")} == want
    valid = [l for l in again.stdout.splitlines() if l.startswith("valid 6")]
    assert len(valid) == 1


def test_api_generation_uses_generation_config(setup, tmp_path):
    import shutil
    model, d = setup
    m = tmp_path / "m"
    shutil.copytree(model, m)
    cli = subprocess.run([CLI, "generate", "--model", m, "--prompt", "Hi", "--max-tokens", "8", "--print-ids",
                          "--ignore-eos"], capture_output=True, text=True, check=True)
    ids = [int(x) for x in cli.stderr.split("ids:")[1].split()]
    # stop at the fourth greedy token: both doors must read generation_config.json and stop there
    (m / "generation_config.json").write_text(json.dumps({"eos_token_id": [ids[3]], "do_sample": False}))
    cli = subprocess.run([CLI, "generate", "--model", m, "--prompt", "Hi", "--max-tokens", "8", "--print-ids"],
                         capture_output=True, text=True, check=True)
    got = cli.stderr.split("ids:")[1].split() if "ids:" in cli.stderr else []
    assert [int(x) for x in got] == ids[: ids.index(ids[3])]
    api = driver("generate", m, "-", "Hi")
    assert api.stdout.rstrip("\n") == cli.stdout.rstrip("\n")


def test_api_eval_equals_the_cli(train_setup, tmp_path):
    from test_train import train
    model, data = train_setup
    train(model, data, tmp_path / "run", "--iters", "2")
    for adapter in ("-", tmp_path / "run"):
        args = ["--model", model, "--data", data / "valid.jsonl", "--generate"]
        if adapter != "-":
            args += ["--adapter", adapter]
        cli = subprocess.run([CLI, "eval", *map(str, args)], capture_output=True, text=True, check=True)
        api = driver("eval", model, adapter, data / "valid.jsonl", "generate")
        want = cli.stdout.split("valid.jsonl: ", 1)[1].strip()
        assert api.stdout.strip() == want

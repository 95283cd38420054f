"""Data-parallel `vlmtune train` (docs/DISTRIBUTED.md): 2 processes on localhost over MLX's ring backend.

The reference is the same run in one process: the same seed and the same global batch (batch size ×
accumulation), so every step sees the same samples and the same supervised-token count.  Two processes
compute the same sums in another order (each rank sums its share, the all-reduce adds the shares), so the
results agree up to float32 rounding:

  * loss of every step: relative 1e-5.  A loss is a float32 sum of a few hundred cross-entropies; summing
    them in another order moves it by at most ~n·2⁻²⁴ ≈ 2e-5 of the sum of magnitudes in the worst case, and
    by ~√n·2⁻²⁴ ≈ 1e-6 typically (the updates feeding later steps differ as little, see below);
  * final adapters: |Δ| ≤ 1e-6 + 1e-3·|w| elementwise.  AdamW divides m by √v: where a gradient is tiny that
    ratio amplifies rounding, but each step moves a weight by at most lr = 1e-3 in total, so after 20 steps a
    relative 1e-3 (with an absolute floor for weights near 0) bounds what rounding can do without letting a
    wrong gradient (a rank's share counted twice or dropped moves the loss by percent) pass.

The data are uneven on purpose: 5 training rows in micro-batches of 2 leave a last micro-batch of one sample,
whose rank-1 share is empty (zero gradient, zero tokens); 3 validation rows give shares of 1 and 2.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
LAUNCH = Path(sys.executable).parent / "mlx.launch"
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"
STEPS = 20
TIMEOUT = 5  # distributed_timeout of the killed-rank test, seconds

mx.set_default_device(mx.cpu)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(d / "fx"), "--vocab", "151936",
                    "--layouts", "mlx"], check=True, capture_output=True)
    model = d / "fx" / "mlx"
    for f in TOKENIZER.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_demo_data.py"), str(d / "data"), "--train", "5",
                    "--valid", "3", "--test", "0", "--size", "64"], check=True, capture_output=True)
    return model, d / "data"


def args(model, data, out, steps=STEPS):
    return ["train", "--model", str(model), "--data", str(data / "train.jsonl"), "--valid", str(data / "valid.jsonl"),
            "--out", str(out), "--iters", str(steps), "--batch-size", "2", "--grad-accumulation-steps", "2",
            "--learning-rate", "1e-3", "--lr-schedule", "constant", "--warmup-steps", "0", "--max-grad-norm", "1",
            "--steps-per-report", "1", "--steps-per-eval", "5", "--save-every", "5", "--seed", "7"]


def port():
    return random.randint(20000, 60000)


def one(*a):
    r = subprocess.run([CLI, *a], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def two(*a):
    r = subprocess.run([str(LAUNCH), "-n", "2", "-p", str(port()), "--", CLI, *a], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def records(run):
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


def losses(run):
    return {r["step"]: r["loss"] for r in records(run) if "loss" in r}


def valid_losses(run):
    return {r["step"]: r["val_loss"] for r in records(run) if "val_loss" in r}


def assert_losses_agree(got, want):
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for step in want:
        assert abs(got[step] - want[step]) <= 1e-5 * abs(want[step]), (step, got[step], want[step])


def assert_adapters_agree(a, b):
    wa, wb = mx.load(str(a / "adapters.safetensors")), mx.load(str(b / "adapters.safetensors"))
    assert sorted(wa) == sorted(wb)
    for k in wa:
        x, y = np.array(wa[k]), np.array(wb[k])
        assert np.all(np.abs(x - y) <= 1e-6 + 1e-3 * np.abs(x)), (k, float(np.max(np.abs(x - y))))


@pytest.fixture(scope="module")
def runs(setup, tmp_path_factory):
    """The reference in one process and the same run in two."""
    model, data = setup
    d = tmp_path_factory.mktemp("runs")
    one(*args(model, data, d / "one"))
    out = two(*args(model, data, d / "two")).stdout
    return d / "one", d / "two", out


def test_two_processes_repeat_one_process(runs):
    single, double, out = runs
    assert_losses_agree(losses(double), losses(single))
    assert len(losses(single)) == STEPS
    assert_losses_agree(valid_losses(double), valid_losses(single))
    assert len(valid_losses(single)) == STEPS // 5
    assert_adapters_agree(double, single)
    # a wrong share (say, rank 1's rows counted twice) would not pass: the runs moved well away from the start
    first, last = losses(single)[1], losses(single)[STEPS]
    assert abs(first - last) > 1e-2 * abs(first)


def test_the_group_size_is_recorded_and_rank_0_alone_speaks(runs):
    single, double, out = runs
    assert all(r["world_size"] == 2 for r in records(double)) and all(r["world_size"] == 1 for r in records(single))
    assert "world_size: 2" in (double / "config.yaml").read_text()
    assert "world_size: 1" in (single / "config.yaml").read_text()
    assert "world size 2" in out.splitlines()[0]
    assert out.count("done:") == 1 and out.count(f"step {STEPS}/{STEPS}") == 1


def resumed_from(run, step, dest):
    """A copy of `run` as it was when checkpoint `step` was written."""
    shutil.copytree(run, dest)
    for c in (dest / "checkpoints").iterdir():
        if int(c.name.split("-")[1]) > step:
            shutil.rmtree(c)
    return dest


@pytest.mark.parametrize("first,then", [("two", "one"), ("one", "two")])
def test_resume_with_another_group_size_continues_the_losses(setup, runs, tmp_path, first, then):
    model, data = setup
    single, double, _ = runs
    cut = resumed_from(double if first == "two" else single, 10, tmp_path / "cut")
    (two if then == "two" else one)("train", "--resume", str(cut))
    got = losses(cut)
    assert sorted(got) == list(range(1, STEPS + 1))
    assert_losses_agree({s: l for s, l in got.items() if s > 10}, {s: l for s, l in losses(single).items() if s > 10})
    assert_adapters_agree(cut, single)
    want_size = 2 if then == "two" else 1
    assert all(r["world_size"] == want_size for r in records(cut) if r["step"] > 10)


# killed: the ring sees the closed socket and the all-reduce fails at once; stopped (SIGSTOP, a hung rank whose
# sockets stay open): only the watchdog can end the wait, after distributed_timeout
@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_a_failed_rank_stops_the_others_and_the_last_checkpoint_is_intact(setup, tmp_path, how):
    model, data = setup
    hostfile = tmp_path / "hosts.json"
    p = port()
    hostfile.write_text(json.dumps([[f"127.0.0.1:{p}"], [f"127.0.0.1:{p + 1}"]]))
    run = tmp_path / "run"
    cmd = [CLI, *args(model, data, run, steps=1000), "--save-every", "1", "--distributed-timeout", str(TIMEOUT)]
    ranks = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "MLX_RANK": str(r), "MLX_HOSTFILE": str(hostfile)})
             for r in range(2)]
    try:
        deadline = time.monotonic() + 300  # a guard against a hang, not a measurement
        while not (run / "checkpoints" / "step-0000002").is_dir():
            assert all(r.poll() is None for r in ranks), [r.communicate() for r in ranks]
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        ranks[1].send_signal(signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        out, err = ranks[0].communicate(timeout=TIMEOUT + 120)
    finally:
        for r in ranks:
            if r.poll() is None:
                r.kill()
            r.communicate()
    assert ranks[0].returncode == 1, out + err
    assert "rank 0 of 2" in err and "all-reduce" in err and "another rank failed or stopped" in err, err
    if how == "stopped":
        assert f"waited {TIMEOUT} s" in err and "distributed_timeout" in err, err
    ckpts = sorted((run / "checkpoints").glob("step-*"))
    assert ckpts
    last = ckpts[-1]
    state = json.loads((last / "state.json").read_text())
    assert state["step"] == int(last.name.split("-")[1]) >= 2
    adapters = mx.load(str(last / "adapters.safetensors"))
    moments = mx.load(str(last / "optimizer.safetensors"))
    assert adapters and len(moments) == 2 * len(adapters)
    # and the run continues from it in one process
    one("train", "--resume", str(run), "--iters", str(state["step"] + 1), "--steps-per-eval", "0")
    assert max(losses(run)) == state["step"] + 1


# A rank that fails with an error (here: its own memory limit refuses the run, as on a smaller Mac of the group)
# says so in the next collective (here the start-up check every rank passes before anything is written): the
# others stop at once naming it and its reason, without waiting for distributed_timeout.
def test_a_rank_that_fails_names_itself_and_the_others_stop_at_once(setup, tmp_path):
    model, data = setup
    hostfile = tmp_path / "hosts.json"
    p = port()
    hostfile.write_text(json.dumps([[f"127.0.0.1:{p}"], [f"127.0.0.1:{p + 1}"]]))
    run = tmp_path / "run"
    cmd = [CLI, *args(model, data, run), "--distributed-timeout", "3600"]
    ranks = [subprocess.Popen(cmd + (["--memory-limit-gb", "0.01"] if r == 1 else []), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "MLX_RANK": str(r), "MLX_HOSTFILE": str(hostfile)})
             for r in range(2)]
    try:
        # a guard against a hang (the watchdog would wait an hour), not a measurement
        results = [r.communicate(timeout=240) for r in ranks]
    finally:
        for r in ranks:
            if r.poll() is None:
                r.kill()
                r.communicate()
    (out0, err0), (out1, err1) = results
    assert ranks[1].returncode == 1 and "rank 1 of 2" in err1 and "estimated peak memory" in err1, err1
    assert ranks[0].returncode == 1, out0 + err0
    assert "rank 1 of 2 failed (during the start-up check)" in err0 and "estimated peak memory" in err0, err0
    assert "waited" not in err0, err0
    assert not run.exists()  # the group agreed before rank 0 wrote anything

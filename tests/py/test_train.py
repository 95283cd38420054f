"""vlmtune train against an independent computation with mlx-vlm (0.7.10, CPU, float32).

The reference for a step is mlx-vlm's own Qwen3-VL with mlx-vlm's own LoRA layers on the same
modules, fed the rows as `vlmtune encode` writes them (that encoding is checked against the chat
template and the image processor by the other parity tests):
  * loss = Σ cross-entropy over the assistant tokens / their count, as the trainer reports it;
  * the global gradient norm of the first step (metrics.jsonl) equals the reference gradient's;
  * the first AdamW update of B equals −lr·g/(|g|+ε) elementwise (A starts at zero gradient);
and then the loop's own promises: accumulation, packing and checkpointing leave the step
unchanged; a run stopped by SIGTERM and resumed repeats the uninterrupted run's losses; only
adapter tensors change; mlx_vlm.load(model, adapter_path=RUN) sees the trained adapter.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"
LR, WD = 1e-3, 0.01

mx.set_default_device(mx.cpu)


@pytest.fixture(scope="session")
def setup(train_setup):
    return train_setup


def train(model, data, out, *extra, check=True):
    cmd = [CLI, "train", "--model", str(model), "--data", str(data / "train.jsonl"), "--out", str(out),
           "--learning-rate", str(LR), "--weight-decay", str(WD), "--lr-schedule", "constant", "--warmup-steps", "0",
           "--max-grad-norm", "0", "--steps-per-report", "1", "--seed", "3", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def metrics(run):
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r and "valid_loss" not in r and r.get("kind", "train") == "train"]


def encoded_rows(model, data, tmp):
    enc = tmp / "enc.safetensors"
    subprocess.run([CLI, "encode", "--model", str(model), "--data", str(data / "train.jsonl"), "--out", str(enc)],
                   check=True)
    t = {k: np.array(v) for k, v in mx.load(str(enc)).items()}
    rows = []
    for r in range(len(t["token_offsets"]) - 1):
        a, b = t["token_offsets"][r], t["token_offsets"][r + 1]
        pa, pb = t["patch_offsets"][r], t["patch_offsets"][r + 1]
        ia, ib = t["image_offsets"][r], t["image_offsets"][r + 1]
        rows.append((t["input_ids"][a:b], t["loss_mask"][a:b], t["pixel_values"][pa:pb], t["image_grid_thw"][ia:ib]))
    return rows


def reference_model(model, adapter_dir, a_scale=1.0):
    """mlx-vlm's model with mlx-vlm's LoRA layers on the adapter's modules, A from the file, B = 0."""
    from mlx_vlm.trainer.peft.utils import get_peft_model
    from mlx_vlm.utils import load_model
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    lp = cfg["lora_parameters"]
    m = load_model(Path(model))
    m = get_peft_model(m, lp["keys"], rank=lp["rank"], alpha=lp["scale"] * lp["rank"], dropout=0.0, verbose=False)
    w = mx.load(str(adapter_dir / "adapters.safetensors"))
    m.load_weights([(k, v * a_scale if k.endswith("lora_a") else mx.zeros_like(v)) for k, v in w.items()],
                   strict=True if False else False)
    return m


def reference_loss(m, rows):
    def loss_fn(model):
        total, count = 0.0, 0
        for ids, mask, pv, grid in rows:
            out = model(mx.array(ids[None].astype(np.int32)), pixel_values=mx.array(pv),
                        image_grid_thw=mx.array(grid.astype(np.int32)))
            logits = out.logits[0, :-1].astype(mx.float32)
            sel = np.nonzero(mask[1:])[0]
            ce = nn.losses.cross_entropy(logits[mx.array(sel)], mx.array(ids[1:][sel].astype(np.int32)))
            total = total + ce.sum()
            count += len(sel)
        return total / count
    return loss_fn


def test_first_step_matches_mlx_vlm(setup, tmp_path):
    model, data = setup
    run = tmp_path / "run"
    train(model, data, run, "--iters", "1", "--batch-size", "2", "--grad-accumulation-steps", "2")
    step = metrics(run)[0]
    ckpt = run / "checkpoints" / "step-0000001"
    # B had zero gradient's partner: A only decayed, A1 = A0·(1 − lr·wd)
    ref = reference_model(model, ckpt, a_scale=1.0 / (1.0 - LR * WD))
    rows = encoded_rows(model, data, tmp_path)
    loss_fn = reference_loss(ref, rows)
    loss, grads = nn.value_and_grad(ref, loss_fn)(ref)
    grads = dict(tree_flatten(grads))
    norm = float(np.sqrt(sum(float((g.astype(mx.float32) ** 2).sum()) for g in grads.values())))
    assert abs(step["loss"] - float(loss)) <= 1e-4 * abs(float(loss)), (step["loss"], float(loss))
    assert abs(step["grad_norm"] - norm) <= 1e-3 * norm, (step["grad_norm"], norm)
    trained = mx.load(str(ckpt / "adapters.safetensors"))
    checked = 0
    for name, g in grads.items():
        if not name.endswith("lora_b"):
            continue
        g = np.array(g)
        want = -LR * g / (np.abs(g) + 1e-8)
        got = np.array(trained[name])
        big = np.abs(g) > 1e-5  # where ε is negligible, the first Adam step is ±lr exactly
        assert np.allclose(got[big], want[big], rtol=1e-3, atol=1e-7), name
        checked += int(big.sum())
    assert checked > 1000


def step_metrics(run):
    m = metrics(run)[0]
    return m["loss"], m["grad_norm"]


@pytest.mark.parametrize("variant", [
    ["--batch-size", "1", "--grad-accumulation-steps", "4"],
    ["--batch-size", "4", "--grad-accumulation-steps", "1", "--pack", "--max-seq-length", "4096"],
    ["--batch-size", "4", "--grad-accumulation-steps", "1", "--grad-checkpoint"],
    ["--batch-size", "3", "--grad-accumulation-steps", "2", "--pack", "--max-seq-length", "200"],
    # the reference step is compiled (the default): the same step uncompiled, padded to a multiple of 128
    # (the GPU's default, so that the fused attention backward runs), and checkpointed with packing
    ["--batch-size", "4", "--grad-accumulation-steps", "1", "--compile", "false"],
    ["--batch-size", "4", "--grad-accumulation-steps", "1", "--pad-to-multiple", "128"],
    ["--batch-size", "4", "--grad-accumulation-steps", "1", "--grad-checkpoint", "--pack", "--max-seq-length", "4096",
     "--compile", "false"],
    # packed samples each padded to a multiple of 128: attention runs slice by slice, padding in between
    ["--batch-size", "4", "--grad-accumulation-steps", "1", "--pack", "--max-seq-length", "4096",
     "--pad-to-multiple", "128"],
])
def test_accumulation_packing_checkpointing_leave_the_step_unchanged(setup, tmp_path, variant):
    model, data = setup
    train(model, data, tmp_path / "a", "--iters", "1", "--batch-size", "4", "--grad-accumulation-steps", "1")
    train(model, data, tmp_path / "b", "--iters", "1", *variant)
    (la, na), (lb, nb) = step_metrics(tmp_path / "a"), step_metrics(tmp_path / "b")
    assert abs(la - lb) <= 1e-5 * abs(la), (la, lb)
    assert abs(na - nb) <= 1e-4 * na, (na, nb)


def test_resume_after_sigterm_repeats_the_losses(setup, tmp_path):
    model, data = setup
    args = ["--iters", "30", "--batch-size", "1", "--grad-accumulation-steps", "1", "--save-every", "1000",
            "--dropout", "0.1", "--lr-schedule", "cosine", "--warmup-steps", "3"]
    full = tmp_path / "full"
    train(model, data, full, *args)
    want = [m["loss"] for m in metrics(full)]
    cut = tmp_path / "cut"
    cmd = [CLI, "train", "--model", str(model), "--data", str(data / "train.jsonl"), "--out", str(cut),
           "--learning-rate", str(LR), "--weight-decay", str(WD), "--max-grad-norm", "0", "--steps-per-report", "1",
           "--seed", "3", *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while p.poll() is None:
        if (cut / "metrics.jsonl").exists() and len(metrics(cut)) >= 5:
            p.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, out + err
    stopped = len(metrics(cut))
    assert 5 <= stopped < 30 and "--resume" in out
    r = subprocess.run([CLI, "train", "--resume", str(cut)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    got = [m["loss"] for m in metrics(cut)]
    assert len(got) == 30
    assert got == want, "resumed losses differ from the uninterrupted run"


@pytest.mark.parametrize("layout", ["mlx", "q4"])  # q4: QLoRA on an MLX 4-bit base
def test_only_adapters_change_and_mlx_vlm_loads_them(setup, tmp_path, layout):
    model, data = setup
    model = model.parent / layout
    before = {f.name: f.read_bytes() for f in model.iterdir()}
    run = tmp_path / "run"
    train(model, data, run, "--iters", "3", "--batch-size", "2", "--grad-accumulation-steps", "1")
    assert {f.name: f.read_bytes() for f in model.iterdir()} == before
    weights = mx.load(str(run / "adapters.safetensors"))
    assert all(k.endswith((".lora_a", ".lora_b")) for k in weights)
    assert max(float(mx.abs(v).max()) for k, v in weights.items() if k.endswith("lora_b")) > 0
    from mlx_vlm.utils import load_model
    from mlx_vlm.trainer.peft.utils import apply_lora_layers
    ref = apply_lora_layers(load_model(Path(model)), run)
    base = load_model(Path(model))
    ids, mask, pv, grid = encoded_rows(model, data, tmp_path)[0]
    kw = dict(pixel_values=mx.array(pv), image_grid_thw=mx.array(grid.astype(np.int32)))
    want = np.array(ref(mx.array(ids[None].astype(np.int32)), **kw).logits)
    plain = np.array(base(mx.array(ids[None].astype(np.int32)), **kw).logits)
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    mx.save_safetensors(str(src), {"input_ids": mx.array(ids[None].astype(np.int32)), "pixel_values": mx.array(pv),
                                   "image_grid_thw": mx.array(grid.astype(np.int32))})
    subprocess.run([CLI, "forward", "--model", str(model), "--inputs", str(src), "--out", str(dst), "--adapter",
                    str(run)], check=True)
    got = np.array(mx.load(str(dst))["logits"])
    scale = np.max(np.abs(want))
    assert np.max(np.abs(want - plain)) / scale > 1e-3, "training did not move mlx-vlm's logits"
    assert np.max(np.abs(got - want)) / scale <= 1e-4


def test_checkpointing_with_vision_adapters_leaves_the_step_unchanged(setup, tmp_path):
    model, data = setup
    args = ["--iters", "1", "--batch-size", "2", "--grad-accumulation-steps", "2", "--train-vision"]
    train(model, data, tmp_path / "a", *args)
    train(model, data, tmp_path / "b", *args, "--grad-checkpoint")
    (la, na), (lb, nb) = step_metrics(tmp_path / "a"), step_metrics(tmp_path / "b")
    assert abs(la - lb) <= 1e-5 * abs(la) and abs(na - nb) <= 1e-4 * na, (la, lb, na, nb)
    wa, wb = mx.load(str(tmp_path / "a" / "adapters.safetensors")), mx.load(str(tmp_path / "b" / "adapters.safetensors"))
    for k in wa:  # the first Adam step is ±lr where the gradient is not tiny: the same update, vision included
        assert np.allclose(np.array(wa[k]), np.array(wb[k]), atol=1e-6), k


@pytest.mark.parametrize("extra", [["--train-vision"], ["--fine-tune-type", "dora"]])
def test_vision_and_dora_adapters_train(setup, tmp_path, extra):
    model, data = setup
    run = tmp_path / "run"
    train(model, data, run, "--iters", "2", "--batch-size", "2", *extra)
    w = mx.load(str(run / "adapters.safetensors"))
    if "--train-vision" in extra:
        vision_b = [v for k, v in w.items() if k.startswith("vision_tower.") and k.endswith("lora_b")]
        assert vision_b and max(float(mx.abs(v).max()) for v in vision_b) > 0
    else:
        assert any(k.endswith(".m") for k in w)
        assert json.loads((run / "adapter_config.json").read_text())["fine_tune_type"] == "dora"


def test_non_finite_steps_stop_the_run(setup, tmp_path):
    model, data = setup
    r = train(model, data, tmp_path / "run", "--iters", "10", "--batch-size", "2", "--learning-rate", "1e30",
              "--max-bad-steps", "2", check=False)
    assert r.returncode == 1
    assert "update skipped" in r.stdout and "non-finite steps in a row" in r.stderr


def test_long_rows_are_skipped_or_refused(setup, tmp_path):
    model, data = setup
    r = train(model, data, tmp_path / "a", "--iters", "1", "--max-seq-length", "40", check=False)
    assert r.returncode == 1 and "no usable training rows" in r.stderr
    assert r.stderr.count("skipped:") == 4 and "train.jsonl:1:" in r.stderr  # data problems go to stderr
    r = train(model, data, tmp_path / "b", "--iters", "1", "--max-seq-length", "40", "--strict", check=False)
    assert r.returncode == 1 and "4 of 4 rows are invalid" in r.stderr
    assert "train.jsonl:1:" in r.stderr and "exceed max_seq_length 40" in r.stderr


def test_num_layers_limits_dotted_keys(setup, tmp_path):
    """mlx-lm's keys are dotted paths ("self_attn.q_proj"); num_layers keeps them to the last layers."""
    model, data = setup
    train(model, data, tmp_path / "run", "--iters", "1", "--keys", "self_attn.q_proj,mlp.down_proj", "--num-layers", "2")
    cfg = json.loads((tmp_path / "run" / "adapter_config.json").read_text())
    layers = json.loads((model / "config.json").read_text())["text_config"]["num_hidden_layers"]
    want = [f"language_model.model.layers.{i}.{k}" for i in range(layers - 2, layers)
            for k in ("self_attn.q_proj", "mlp.down_proj")]
    assert sorted(cfg["lora_parameters"]["keys"]) == sorted(want) and cfg["num_layers"] == 2


def test_resume_adapter_file_starts_from_those_weights(setup, tmp_path):
    """mlx-lm's resume_adapter_file: the first step's loss is the loss of those adapters on the same rows."""
    model, data = setup
    train(model, data, tmp_path / "a", "--iters", "3", "--batch-size", "4")
    r = subprocess.run([CLI, "eval", "--model", str(model), "--adapter", str(tmp_path / "a"), "--data",
                        str(data / "train.jsonl")], capture_output=True, text=True, check=True)
    want = float(r.stdout.split("loss ")[1].split(",")[0])
    train(model, data, tmp_path / "b", "--iters", "1", "--batch-size", "4", "--resume-adapter-file",
          str(tmp_path / "a" / "adapters.safetensors"))
    assert metrics(tmp_path / "b")[0]["loss"] == pytest.approx(want, rel=1e-4)
    r = train(model, data, tmp_path / "c", "--iters", "1", "--rank", "4", "--resume-adapter-file",
              str(tmp_path / "a"), check=False)
    assert r.returncode == 1 and "lora_a" in r.stderr and "the configuration makes" in r.stderr


def test_a_run_that_cannot_fit_is_refused_before_it_starts(setup, tmp_path):
    model, data = setup
    # the estimate is printed before step 1: setup (weights, adapters, optimizer) below the step's peak
    r = train(model, data, tmp_path / "ok", "--iters", "1")
    got = r.stdout.split("memory: ", 1)[1].split("\n", 1)[0]
    setup_gb, peak_gb = [float(x.split(" GB")[0]) for x in got.replace("about ", "").split(", ")[:2]]
    weights_gb = sum(f.stat().st_size for f in Path(model).glob("*.safetensors")) / 1e9
    assert 0.9 * weights_gb <= setup_gb < peak_gb, got
    # a limit below the estimate: refused with the numbers, and no run directory is made
    limit = f"{setup_gb / 2:.6f}"
    r = train(model, data, tmp_path / "no", "--iters", "1", "--memory-limit-gb", limit, check=False)
    assert r.returncode == 1 and "estimated peak memory" in r.stderr and f"exceeds the {float(limit):.1f} GB" in r.stderr
    assert not (tmp_path / "no").exists()
    # memory_check false: a warning, and the run goes on
    r = train(model, data, tmp_path / "anyway", "--iters", "1", "--memory-limit-gb", limit, "--memory-check", "false")
    assert "warning: estimated peak memory" in r.stderr and (tmp_path / "anyway" / "adapters.safetensors").exists()


# ------------------------------------------------------------------ nothing is ever lost ----

# Three steps, a checkpoint after each, validation (and best/) at steps 2 and 3.
LOST_ARGS = ["--iters", "3", "--batch-size", "1", "--grad-accumulation-steps", "1", "--save-every", "1",
             "--steps-per-eval", "2", "--val-batches", "1"]


def lost_args(data):
    return [*LOST_ARGS, "--valid", str(data / "valid.jsonl")]


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory):
    """The reference: the same run, never stopped (its losses and adapters)."""
    model, data = setup
    run = tmp_path_factory.mktemp("lost") / "full"
    train(model, data, run, *lost_args(data))
    return [m["loss"] for m in metrics(run)], mx.load(str(run / "adapters.safetensors")), run


def same_adapters(run, want):
    got = mx.load(str(run / "adapters.safetensors"))
    return set(got) == set(want) and all(mx.array_equal(got[k], want[k]).item() for k in want)


def resume(run, *extra):
    return subprocess.run([CLI, "train", "--resume", str(run), *extra], capture_output=True, text=True)


def test_resume_continues_where_the_run_is_now(setup, tmp_path, uninterrupted):
    """A run moved (mv) or copied (cp -r) resumes in the directory it is given, never in the one its
    config.yaml names; the original is neither re-created nor cut back."""
    import shutil
    model, data = setup
    want_losses, want_adapters, _ = uninterrupted
    a = tmp_path / "a"
    train(model, data, a, *lost_args(data), "--iters", "2")
    b, c = tmp_path / "moved", tmp_path / "copied"
    a.rename(b)
    shutil.copytree(b, c)
    b_before = (b / "metrics.jsonl").read_text()
    for run in (c, b):
        r = resume(run, "--iters", "3")
        assert r.returncode == 0, r.stdout + r.stderr
        assert [m["loss"] for m in metrics(run)] == want_losses
        assert same_adapters(run, want_adapters)
    assert not a.exists(), "the resumed run wrote into the directory its config.yaml named"
    assert (b / "metrics.jsonl").read_text().startswith(b_before)


def killed_at(cmd, moment, cut, log_file):
    """Starts cmd and SIGKILLs it at `moment`: seconds after its start; "checkpoint": while a checkpoint is
    being written (its temporary directory exists); ("after step", n, seconds): that long after it reported
    step n.  Returns what the process had printed."""
    with open(log_file, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, text=True)
        t0, seen = time.monotonic(), None
        while p.poll() is None:
            if moment == "checkpoint":
                ck = cut / "checkpoints"
                if ck.is_dir() and any(n.startswith(".tmp-step-") for n in os.listdir(ck)):
                    break
            elif isinstance(moment, tuple):
                if seen is None and f"step {moment[1]}/" in Path(log_file).read_text():
                    seen = time.monotonic()
                if seen is not None and time.monotonic() - seen >= moment[2]:
                    break
            elif time.monotonic() - t0 >= moment:
                break
            time.sleep(0.0005)
        p.kill()
        p.wait()
    return Path(log_file).read_text()


def test_a_kill_at_any_moment_leaves_a_run_that_resumes_exactly(setup, tmp_path, uninterrupted):
    """kill -9 during start-up, during the first checkpoint write, and at random moments: each time the
    directory is absent or a run that --resume continues (a new train with the same --out is refused and
    points to --resume), and the run finished by resuming equals the uninterrupted one."""
    import random
    model, data = setup
    want_losses, want_adapters, _ = uninterrupted
    cut = tmp_path / "cut"
    fresh = [CLI, "train", "--model", str(model), "--data", str(data / "train.jsonl"), "--out", str(cut),
             "--learning-rate", str(LR), "--weight-decay", str(WD), "--lr-schedule", "constant", "--warmup-steps", "0",
             "--max-grad-norm", "0", "--steps-per-report", "1", "--seed", "3", *lost_args(data)]
    rng = random.Random(14)
    moments = [rng.uniform(0.0, 0.5), "checkpoint", ("after step", 2, rng.uniform(0.0, 0.5)), rng.uniform(0.5, 3.0)]
    log = []
    for moment in moments:
        is_run = (cut / "checkpoints").is_dir()
        out = killed_at([CLI, "train", "--resume", str(cut)] if is_run else fresh, moment, cut, tmp_path / "log")
        log.append((moment, is_run, out[-300:]))
        if not cut.exists():
            continue  # killed before the run directory appeared: nothing to resume, nothing left
        assert (cut / "checkpoints").is_dir() and (cut / "config.yaml").is_file(), log
        r = subprocess.run(fresh, capture_output=True, text=True)
        assert r.returncode != 0 and f"--resume {cut}" in r.stderr, (r.stderr, log)
    r = resume(cut) if cut.exists() else subprocess.run(fresh, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr, log)
    assert [m["loss"] for m in metrics(cut)] == want_losses, log
    assert same_adapters(cut, want_adapters), log
    assert (cut / "best" / "adapters.safetensors").is_file()
    leftovers = [p for p in cut.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]
    assert not leftovers, leftovers


def test_resume_from_step_0_when_no_checkpoint_is_complete(setup, tmp_path, uninterrupted):
    """A run killed before its first checkpoint (its directory holds the settings and an empty checkpoints/,
    maybe a half-written checkpoint): --resume says so, cleans up, and trains from step 0."""
    model, data = setup
    want_losses, want_adapters, full = uninterrupted
    run = tmp_path / "run"
    (run / "checkpoints" / ".tmp-step-0000001").mkdir(parents=True)
    (run / "checkpoints" / ".tmp-step-0000001" / "adapters.safetensors").write_bytes(b"half")
    (run / "config.yaml").write_text((full / "config.yaml").read_text().replace(str(full), str(run)))
    (run / "metrics.jsonl.tmp-12345").write_text("{")
    r = resume(run)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no complete checkpoint" in r.stderr and "starting from step 0" in r.stderr, r.stderr
    assert [m["loss"] for m in metrics(run)] == want_losses
    assert same_adapters(run, want_adapters)
    assert not (run / "checkpoints" / ".tmp-step-0000001").exists() and not (run / "metrics.jsonl.tmp-12345").exists()


def nan_inside(path):
    """Overwrites the first value of the first tensor with a float32 NaN: the file stays valid safetensors."""
    raw = bytearray(path.read_bytes())
    header = int.from_bytes(raw[:8], "little")
    raw[8 + header:8 + header + 4] = np.array([np.nan], dtype=np.float32).tobytes()
    path.write_bytes(bytes(raw))
    mx.load(str(path))  # still readable: only the checksum can tell


def test_a_damaged_checkpoint_is_passed_over(setup, tmp_path, uninterrupted):
    """NaN bytes inside the newest checkpoint's optimizer.safetensors: resume says so and continues from the
    newest intact checkpoint, to the uninterrupted run's result; with every checkpoint damaged it stops."""
    model, data = setup
    want_losses, want_adapters, _ = uninterrupted
    run = tmp_path / "run"
    train(model, data, run, *lost_args(data))
    nan_inside(run / "checkpoints" / "step-0000003" / "optimizer.safetensors")
    r = resume(run)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "step-0000003 is damaged" in r.stderr and "optimizer.safetensors" in r.stderr, r.stderr
    assert "resuming from the newest intact checkpoint" in r.stderr and "step-0000002" in r.stderr, r.stderr
    assert [m["loss"] for m in metrics(run)] == want_losses
    assert same_adapters(run, want_adapters)

    for step in (run / "checkpoints").iterdir():
        f = step / "adapters.safetensors"
        f.write_bytes(f.read_bytes()[:-1] + bytes([f.read_bytes()[-1] ^ 1]))
    r = resume(run)
    assert r.returncode != 0 and "every checkpoint is damaged" in r.stderr, r.stderr
    assert len(list((run / "checkpoints").iterdir())) == 3, "damaged checkpoints are kept, not deleted"


def test_keep_last_leaves_the_newest_checkpoints(setup, tmp_path):
    model, data = setup
    run = tmp_path / "run"
    train(model, data, run, "--iters", "5", "--save-every", "1", "--keep-last", "2")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000004", "step-0000005"]


def test_a_refused_run_leaves_nothing(setup, tmp_path):
    """Data or settings refused: no --out is created; a directory with other files is never trained into."""
    model, data = setup
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": 3}\n')
    for out, extra in [(tmp_path / "a", ["--data", str(bad)]), (tmp_path / "b" / "c", ["--num-layers", "1000"]),
                       (tmp_path / "d", ["--data", str(tmp_path / "missing.jsonl")])]:
        r = train(model, data, out, "--iters", "1", *extra, check=False)
        assert r.returncode != 0 and not out.exists(), (extra, r.stderr)
    assert not (tmp_path / "b").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    r = train(model, data, mine, "--iters", "1", check=False)
    assert r.returncode != 0 and "holds 'notes.txt'" in r.stderr, r.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    train(model, data, f"{empty}/", "--iters", "1")  # an empty directory is fine, named with a trailing slash
    assert (empty / "checkpoints" / "step-0000001" / "checksums.json").is_file()

"""vlmtune train's configuration against the tools whose files it reads, and the file it writes.

* The learning rates of mlx-lm's schedules come from MLX itself (mlx.optimizers.cosine_decay,
  linear_schedule, join_schedules, put together as mlx_lm.tuner.utils.build_schedule documents:
  a linear warm-up from warmup_init to arguments[0], joined at warmup + 1).  This test computes
  them and checks tests/data/peers/mlx_lm_schedules.txt (rel 1e-6), the table tests/test_train_config.c
  holds vlmtune's schedule to (1e-6 of the peak rate: MLX computes in float32).  VT_REGEN=1 rewrites it.
* RUN/config.yaml (as --print-config prints it) is YAML that PyYAML reads with each key once, floats
  as floats, and the values the peers' own files meant; read back through --config it prints the
  same text again.
* mlx-lm's example configuration trains a tiny Qwen3-VL (tools/make_fixture.py) with only paths, the
  step count and num_layers given as flags: its adapter has mlx-lm's scale and its learning rates are
  MLX's; num_layers above the model's layer count is refused with the count.
* The CLI conventions: --flag=value, --version, `help CMD`, --help at 80 columns with each option's
  value, YAML key and default, and docs/TRAIN.md holding the table --help-keys prints.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import mlx.optimizers as optim
import pytest
import yaml

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
PEERS = ROOT / "tests" / "data" / "peers"
TABLE = PEERS / "mlx_lm_schedules.txt"
STEPS = [0, 1, 2, 5, 9, 10, 11, 12, 25, 49, 50, 59, 60, 61, 62, 99, 100, 101, 102, 103, 150, 200, 201, 210,
         500, 1000, 1099, 1100, 1101, 1102, 1500]
CASES = ["mlx_lm_lora_config", "mlx_lm_linear_schedule", "mlx_lm_cosine_no_warmup"]

mx.set_default_device(mx.cpu)


def cli(*args, check=True):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def number(v):
    """A YAML number as mlx-lm loads it: PyYAML reads 1e-5 (no point) as text; mlx-lm adds a resolver."""
    return v if isinstance(v, (int, float)) else float(v)


def mlx_lm_schedule(block):
    """mlx-lm's build_schedule, from its documented behaviour, with MLX's own schedulers."""
    args = [number(a) for a in block["arguments"]]
    main = getattr(optim, block["name"])(*args)
    warmup = block.get("warmup", 0)
    if not warmup:
        return main
    ramp = optim.linear_schedule(number(block.get("warmup_init", 0.0)), args[0], warmup)
    return optim.join_schedules([ramp, main], [warmup + 1])


def reference_table():
    lines = []
    for case in CASES:
        block = yaml.safe_load((PEERS / f"{case}.yaml").read_text())["lr_schedule"]
        schedule = mlx_lm_schedule(block)
        for step in STEPS:
            lines.append(f"{case} {step} {float(schedule(mx.array(step))):.9e}")
    return lines


def test_mlx_lm_schedule_table_is_mlx():
    want = reference_table()
    if os.environ.get("VT_REGEN"):
        TABLE.write_text("# case step lr: mlx.optimizers' values for mlx-lm's lr_schedule blocks "
                         "(tests/py/test_train_config.py, VT_REGEN=1)\n" + "\n".join(want) + "\n")
    got = [l for l in TABLE.read_text().splitlines() if not l.startswith("#")]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        gc, gs, gv = g.split()
        wc, ws, wv = w.split()
        assert (gc, gs) == (wc, ws)
        assert float(gv) == pytest.approx(float(wv), rel=1e-6, abs=1e-12), (g, w)


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; this loader refuses them."""


def _mapping(loader, node, deep=False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    dup = {k for k in keys if keys.count(k) > 1}
    assert not dup, f"keys written twice: {dup}"
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                lambda l, n: _mapping(l, n, deep=True))


def printed(config, *flags):
    return cli("train", "--config", config, *flags, "--print-config").stdout


# What each peer file means, from the peer's documentation of its keys.
EXPECTED = {
    "mlx_lm_lora_config": {  # mlx-lm: scale is the multiplier (alpha = scale · rank); schedule from arguments
        "model": "models/Qwen3-VL-2B-Instruct", "data": "data/", "adapter_path": "adapters",
        "fine_tune_type": "lora", "num_layers": 16, "batch_size": 4, "iters": 1000, "val_batches": 25,
        "learning_rate": 1e-5, "steps_per_report": 10, "steps_per_eval": 200, "grad_accumulation_steps": 1,
        "save_every": 100, "max_seq_length": 2048, "grad_checkpoint": False, "seed": 0, "optimizer": "adamw",
        "weight_decay": 0.05,
        "optimizer_config": {"adamw": {"betas": [0.9, 0.98], "eps": 1e-6, "bias_correction": True}},
        "lora_parameters": {"rank": 8, "alpha": 160.0, "dropout": 0.0,
                            "keys": "self_attn.q_proj,self_attn.v_proj"},
        "lr_schedule": {"name": "cosine_decay", "warmup": 100, "warmup_init": 1e-7, "min_lr": 1e-7,
                        "decay_steps": 1000},
    },
    "mlx_vlm_lora": {  # mlx-vlm: alpha/rank scale; output_path a folder; steps_per_save
        "model": "models/Qwen3-VL-2B-Instruct", "data": "data", "adapter_path": "runs/vlm-lora",
        "fine_tune_type": "lora", "optimizer": "adamw", "learning_rate": 2e-5, "weight_decay": 0.0,
        "lora_parameters": {"rank": 16, "alpha": 32.0, "dropout": 0.05, "keys": "q_proj,k_proj,v_proj,o_proj"},
        "batch_size": 2, "iters": 300, "grad_accumulation_steps": 4, "val_batches": 10, "steps_per_report": 5,
        "steps_per_eval": 50, "save_every": 100, "max_seq_length": 1024, "grad_checkpoint": True, "seed": 7,
    },
    "llamafactory_qwen3vl_lora_sft": {  # LLaMA-Factory / Hugging Face TrainingArguments names
        "model": "Qwen/Qwen3-VL-4B-Instruct", "image_max_pixels": 262144, "adapter_path": "saves/qwen3-vl-4b/lora/sft",
        "lora_parameters": {"rank": 8, "alpha": 16.0, "keys": ""}, "max_seq_length": 2048,
        "steps_per_report": 10, "save_every": 500, "batch_size": 1, "grad_accumulation_steps": 8,
        "learning_rate": 1e-4, "epochs": 3.0, "iters": 0,
        "lr_schedule": {"name": "cosine", "warmup_ratio": 0.1, "warmup": -1},
    },
}


def contains(got, want, path=""):
    for k, v in want.items():
        assert k in got, f"{path}{k} missing"
        if isinstance(v, dict):
            contains(got[k], v, f"{path}{k}.")
        elif isinstance(v, float):
            assert isinstance(got[k], float), f"{path}{k}: {got[k]!r} is not a float"
            assert got[k] == pytest.approx(v, rel=1e-15), f"{path}{k}"
        elif isinstance(v, list):
            assert got[k] == pytest.approx(v, rel=1e-15), f"{path}{k}"
        else:
            assert got[k] == v and type(got[k]) is type(v), f"{path}{k}: {got[k]!r} != {v!r}"


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_peer_configs_read_with_their_meaning_and_round_trip(case, tmp_path):
    text = printed(PEERS / f"{case}.yaml")
    got = yaml.load(text, Loader=UniqueKeyLoader)
    contains(got, EXPECTED[case])
    again = tmp_path / "config.yaml"
    again.write_text(text)
    assert printed(again) == text  # load what was written, write again: identical


def test_written_numbers_are_short_and_floats():
    text = printed(PEERS / "mlx_lm_lora_config.yaml", "--learning-rate", "1e-5", "--min-lr", "3e-7")
    assert "learning_rate: 1.0e-05\n" in text and "min_lr: 3.0e-07\n" in text
    assert "0000000" not in text
    got = yaml.load(text, Loader=UniqueKeyLoader)
    assert got["learning_rate"] == 1e-5 and got["lr_schedule"]["min_lr"] == 3e-7


def test_peer_warnings_name_file_and_line():
    path = PEERS / "llamafactory_qwen3vl_lora_sft.yaml"
    r = cli("train", "--config", path, "--print-config")
    lines = path.read_text().splitlines()
    warned = [l for l in r.stderr.splitlines() if ": warning: " in l]
    # every key LLaMA-Factory's recipe sets that changes nothing here, each on its own line
    keys = ["video_max_pixels", "trust_remote_code", "dataset", "template", "max_samples",
            "preprocessing_num_workers", "dataloader_num_workers", "overwrite_output_dir", "bf16", "ddp_timeout"]
    assert len(warned) == len(keys), r.stderr
    for key, w in zip(keys, warned):
        line = next(i + 1 for i, l in enumerate(lines) if l.startswith(key + ":"))
        assert w.startswith(f"{path}:{line}: warning: {key}: "), w
    assert cli("train", "--config", PEERS / "mlx_lm_lora_config.yaml", "--print-config").stderr == ""


def test_unknown_and_unsupported_keys_are_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: m\nlearning_rte: 1e-4\n")
    r = cli("train", "--config", f, "--print-config", check=False)
    assert r.returncode == 1 and f"{f}:2: learning_rte: unknown setting" in r.stderr
    f.write_text("optimizer: sgd\n")
    r = cli("train", "--config", f, "--print-config", check=False)
    assert r.returncode == 1 and f"{f}:1: optimizer: 'sgd' is not one of: adamw, adam" in r.stderr
    f.write_text("lora_parameters:\n  rank: 8\nlora_rank: 16\n")
    r = cli("train", "--config", f, "--print-config", check=False)
    assert r.returncode == 1
    assert f"{f}:2: 'lora_parameters.rank' (8) and {f}:3: 'lora_rank' (16) both set lora_parameters.rank" in r.stderr


def test_validation_says_what_is_allowed(tmp_path):
    base = ["train", "--model", tmp_path / "none", "--data", tmp_path / "d.jsonl", "--out", tmp_path / "run"]
    for flags, message in [(["--iters", "-5"], "iters must be 0 (from epochs) or a positive number of steps (got -5)"),
                           (["--epochs", "-1"], "epochs must be 0 or more (got -1)"),
                           (["--num-layers", "0"], "num_layers must be -1 (all layers) or a positive count (got 0)"),
                           (["--save-every", "-2"], "save_every must be at least 1 (got -2)"),
                           (["--warmup-steps", "-3"], "warmup steps must be -1 (from the ratio) or 0 or more")]:
        r = cli(*base, *flags, check=False)
        assert r.returncode == 1 and message in r.stderr, r.stderr


def test_flag_equals_value_everywhere(tmp_path):
    text = printed(PEERS / "mlx_lm_lora_config.yaml", "--rank=4", "--grad-checkpoint=true", "--keys=")
    got = yaml.safe_load(text)
    assert got["lora_parameters"]["rank"] == 4 and got["grad_checkpoint"] is True
    assert got["lora_parameters"]["keys"] == ""
    r = cli("info", f"--model={tmp_path / 'nowhere'}", check=False)  # another command's parser (cli/args.c)
    assert r.returncode == 1 and str(tmp_path / "nowhere") in r.stderr and "unknown option" not in r.stderr


def test_version_and_help_command():
    assert cli("--version").stdout.startswith("vlmtune ")
    assert cli("help", "train").stdout == cli("train", "--help").stdout
    assert cli("help", "eval").stdout == cli("eval", "--help").stdout


def test_train_help_fits_80_columns_and_names_every_setting():
    text = cli("train", "--help").stdout
    assert max(len(l) for l in text.splitlines()) <= 80
    assert "--config FILE" in text
    flat = " ".join(text.split())
    for option, key, default in [("--rank N", "lora_parameters.rank", "8"),
                                 ("--learning-rate X", "learning_rate", "0.0001"),
                                 ("--adam-eps X", "optimizer_config.adamw.eps", "1e-08"),
                                 ("--grad-accumulation-steps N", "grad_accumulation_steps", "1"),
                                 ("--out RUN", "adapter_path", None)]:
        assert option in text
        assert (f"[{key}; default {default}]" if default else f"[{key}]") in flat


def test_docs_hold_the_peer_key_table():
    table = cli("train", "--help-keys").stdout
    assert table.count("\n") > 40
    assert table in (ROOT / "docs" / "TRAIN.md").read_text(), "docs/TRAIN.md: paste `vlmtune train --help-keys`"


TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("config")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(d / "fx"), "--vocab", "151936",
                    "--layouts", "mlx"], check=True, capture_output=True)
    model = d / "fx" / "mlx"
    assert (TOKENIZER / "tokenizer.json").is_file(), "the Qwen3 tokenizer is missing: run tools/setup.sh --test"
    for f in TOKENIZER.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    data = d / "train.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                                     {"role": "assistant", "content": f"Answer {i}."}]}) + "\n"
                            for i in range(4)))
    return model, data


def test_num_layers_is_checked_against_the_model(tiny, tmp_path):
    model, data = tiny
    r = cli("train", "--model", model, "--data", data, "--out", tmp_path / "run", "--num-layers", "1000",
            "--iters", "1", "--cache-dir", "none", check=False)
    assert r.returncode == 1 and "num_layers 1000: the model has 3 decoder layers" in r.stderr, r.stderr


def test_mlx_lm_example_config_trains(tiny, tmp_path):
    model, data = tiny
    run = tmp_path / "run"
    # the fixture has 3 layers where mlx-lm's example adapts 16 (mlx-lm refuses that too)
    cli("train", "--config", PEERS / "mlx_lm_lora_config.yaml", "--model", model, "--data", data, "--out", run,
        "--iters", "3", "--num-layers", "3", "--steps-per-report", "1", "--cache-dir", "none")
    lora = json.loads((run / "adapter_config.json").read_text())["lora_parameters"]
    assert lora["rank"] == 8 and lora["scale"] == 20
    lrs = [json.loads(l)["lr"] for l in (run / "metrics.jsonl").read_text().splitlines() if '"lr"' in l]
    block = yaml.safe_load((PEERS / "mlx_lm_lora_config.yaml").read_text())["lr_schedule"]
    schedule = mlx_lm_schedule(block)
    assert lrs == pytest.approx([float(schedule(mx.array(step))) for step in range(3)], rel=1e-5)

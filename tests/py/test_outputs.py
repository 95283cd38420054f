"""Every command that writes a file or directory never writes over its own input, however the path is spelled
(trailing slash, "..", a symlink), and never into a directory holding someone else's files; a refusal says
that nothing was written, and leaves every input byte for byte as it was.  (fuse and train have their own
tests: test_fuse.py, test_train.py.)"""
import os
import subprocess
from pathlib import Path

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))


def snapshot(*dirs):
    return {p: p.read_bytes() for d in dirs for p in sorted(Path(d).rglob("*")) if p.is_file()}


def refused(cmd, *words):
    r = subprocess.run([CLI, *map(str, cmd)], capture_output=True, text=True)
    assert r.returncode != 0 and "nothing was written" in r.stderr, (cmd, r.stdout, r.stderr)
    for w in words:
        assert w in r.stderr, (cmd, r.stderr)


def test_no_command_writes_over_its_input(train_setup, tmp_path):
    model, data = train_setup
    before = snapshot(model, data)
    jsonl = data / "train.jsonl"
    (tmp_path / "link.jsonl").symlink_to(jsonl)
    for out in (jsonl, tmp_path / "link.jsonl", data / ".." / data.name / "train.jsonl"):
        refused(["encode", "--model", model, "--data", jsonl, "--out", out], "is the input")
    refused(["encode", "--model", model, "--data", jsonl, "--out", f"{data}/"], "is a directory")
    refused(["encode", "--model", model, "--data", jsonl, "--out", model.parent], "is a directory")
    answers = data / "train_answers.jsonl"
    refused(["compare", answers, data / "valid_answers.jsonl", "--out", answers], "is the input")
    image = sorted((data / "images").iterdir())[0]
    refused(["image", "--image", image, "--out", image], "is the input")
    refused(["image", "--image", image, "--rgb-out", image], "is the input")
    enc = tmp_path / "enc.safetensors"
    subprocess.run([CLI, "encode", "--model", model, "--data", jsonl, "--out", enc], check=True, capture_output=True)
    refused(["forward", "--model", model, "--inputs", enc, "--out", enc], "is the input")
    refused(["forward", "--model", model, "--inputs", enc, "--out", model], "is a directory")
    assert snapshot(model, data) == before

    # an adapter directory: convert-adapter replaces adapter files only, never its input
    run = tmp_path / "run"
    r = subprocess.run([CLI, "train", "--model", model, "--data", jsonl, "--out", run, "--iters", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    adapter = snapshot(run)
    for out in (run, f"{run}/", tmp_path):
        refused(["convert-adapter", "--model", model, "--adapter", run, "--out", out, "--format", "mlx"], "input")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    refused(["convert-adapter", "--model", model, "--adapter", run, "--out", mine, "--format", "peft"], "notes.txt")
    assert snapshot(run) == adapter and (mine / "notes.txt").read_text() == "keep"
    peft = tmp_path / "peft"
    for _ in range(2):  # its own output may be written again
        r = subprocess.run([CLI, "convert-adapter", "--model", model, "--adapter", run, "--out", peft, "--format",
                            "peft"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

"""vlmtune prepare: statistics against an independent count, every bad row reported, the cache.

Expected token counts come from Hugging Face `tokenizers` (0.23.3) over the chat text written out by
hand from Qwen3-VL's template, and image tokens from transformers' own smart_resize: nothing is taken
from vlmtune's output.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    # prepare needs only the tokenizer and the image settings of a model directory
    d = tmp_path_factory.mktemp("model")
    assert (TOKENIZER / "tokenizer.json").is_file(), "the Qwen3 tokenizer is missing: run tools/setup.sh --test"
    for f in TOKENIZER.iterdir():
        shutil.copy(f, d / f.name)
    return d


def dataset(d, rows):
    sizes = {"a.png": (90, 60), "b.png": (300, 200)}
    for name, (w, h) in sizes.items():
        Image.new("RGB", (w, h), (200, 30, 30)).save(d / name)
    (d / "data.jsonl").write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return d / "data.jsonl", sizes


ROWS = [{"image": "a.png", "prompt": "Critique this photo.", "response": "Warm light, low horizon."},
        {"image": "b.png", "prompt": "And this one?", "response": "Too dark; lift the shadows.", "system": "Be brief."},
        {"prompt": "No image here.", "response": "Fine."}]


def prepare(*args):
    return subprocess.run([CLI, "prepare", *map(str, args)], capture_output=True, text=True)


def smart_resize(h, w, factor, min_pixels, max_pixels):
    """Qwen2-VL's resize rule (transformers' image_processing_qwen2_vl), written out from its definition."""
    import math
    hb, wb = round(h / factor) * factor, round(w / factor) * factor
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb, wb = math.floor(h / beta / factor) * factor, math.floor(w / beta / factor) * factor
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return hb, wb


def expected(rows, sizes):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(TOKENIZER / "tokenizer.json"))
    total = image_tokens = supervised = 0
    for r in rows:
        text = f"<|im_start|>system\n{r['system']}<|im_end|>\n" if "system" in r else ""
        text += "<|im_start|>user\n"
        if "image" in r:
            w, h = sizes[r["image"]]
            rh, rw = smart_resize(h, w, factor=32, min_pixels=65536, max_pixels=16777216)
            n = (rh // 16) * (rw // 16) // 4
            image_tokens += n
            text += "<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>"
        text += f"{r['prompt']}<|im_end|>\n<|im_start|>assistant\n{r['response']}<|im_end|>\n"
        total += len(tok.encode(text, add_special_tokens=False).ids)
        supervised += len(tok.encode(r["response"], add_special_tokens=False).ids) + 2  # + <|im_end|> "\n"
    return total, image_tokens, supervised


def test_statistics_match_an_independent_count(model, tmp_path):
    data, sizes = dataset(tmp_path, ROWS)
    r = prepare("--model", model, "--data", data)
    assert r.returncode == 0, r.stdout + r.stderr
    total, image_tokens, supervised = expected(ROWS, sizes)
    assert f"3 rows (0 skipped for length)" in r.stdout
    assert f"images 2; tokens {total} (image tokens {image_tokens}, text {total - image_tokens}); " \
           f"supervised {supervised};" in r.stdout, r.stdout


def test_every_bad_row_is_reported(model, tmp_path):
    rows = [ROWS[0], '{"image": "a.png", "prompt": "x"}', ROWS[2], "not json", ROWS[1],
            {"image": "missing.png", "prompt": "p", "response": "r"}]
    data, _ = dataset(tmp_path, rows)
    r = prepare("--model", model, "--data", data)
    assert r.returncode == 1
    # every error line on stderr, none on stdout
    assert f"error: {data}:2: missing field \"response\"" in r.stderr
    assert f"error: {data}:4: malformed JSON" in r.stderr
    assert f"error: {data}:6:" in r.stderr and "missing.png" in r.stderr
    assert "3 of 6 rows are invalid" in r.stderr
    assert "error" not in r.stdout, r.stdout


def test_long_rows_are_skipped_or_refused(model, tmp_path):
    data, _ = dataset(tmp_path, ROWS)
    r = prepare("--model", model, "--data", data, "--max-seq-length", "40")
    assert r.returncode == 0, r.stderr
    assert f"warning: {data}:1: skipped" in r.stderr and f"warning: {data}:2: skipped" in r.stderr
    assert "1 rows (2 skipped for length)" in r.stdout
    r = prepare("--model", model, "--data", data, "--max-seq-length", "40", "--strict")
    assert r.returncode == 1 and "exceed max_seq_length 40" in r.stderr


def test_the_cache_is_reused_and_rebuilt_on_any_change(model, tmp_path):
    data, _ = dataset(tmp_path, ROWS)
    first = prepare("--model", model, "--data", data)
    assert first.returncode == 0 and "from the cache" not in first.stdout
    again = prepare("--model", model, "--data", data)
    assert "from the cache" in again.stdout
    assert again.stdout.split("images", 1)[1] == first.stdout.split("images", 1)[1]

    assert "from the cache" not in prepare("--model", model, "--data", data, "--image-max-pixels", "40000").stdout
    Image.new("RGB", (90, 60), (10, 200, 30)).save(tmp_path / "a.png")  # same size, new pixels and mtime
    os.utime(tmp_path / "a.png", (1, 1))
    assert "from the cache" not in prepare("--model", model, "--data", data).stdout
    other = tmp_path / "model2"
    shutil.copytree(model, other)
    tj = json.loads((other / "tokenizer.json").read_text())
    # the key holds what decides the ids, not the file's bytes: the same tokenizer reformatted is reused,
    # one merge fewer is a different tokenizer
    (other / "tokenizer.json").write_text(json.dumps(tj, indent=1))
    assert "from the cache" in prepare("--model", other, "--data", data).stdout
    tj["model"]["merges"] = tj["model"]["merges"][:-1]
    (other / "tokenizer.json").write_text(json.dumps(tj, indent=1))
    assert "from the cache" not in prepare("--model", other, "--data", data).stdout
    with open(data, "a") as f:
        f.write(json.dumps(ROWS[2]) + "\n")
    r = prepare("--model", model, "--data", data)
    assert "from the cache" not in r.stdout and "4 rows" in r.stdout

    for f in (tmp_path / ".vlmtune-cache").iterdir():
        f.write_bytes(f.read_bytes()[:100])  # truncated cache files
    r = prepare("--model", model, "--data", data)
    assert r.returncode == 0 and "unreadable" in r.stderr and "4 rows" in r.stdout
    assert "from the cache" in prepare("--model", model, "--data", data).stdout
    assert "from the cache" not in prepare("--model", model, "--data", data, "--cache-dir", "none").stdout

"""Datasets as users have them: every accepted row form and image source against the references.

References:
- mlx-vlm 0.7.10's own SFT dataset code builds the conversation of each mlx-vlm/TRL-style row
  (VisionDataset._conversation, _resolve_media, prompt_utils.apply_chat_template for qwen3_vl) and loads its
  images (mlx_vlm.utils.load_image, which also reads data: URIs and http URLs);
- transformers' ProcessorMixin._normalize_conversations and image_utils.load_image read OpenAI image_url parts
  and transformers' {"type": "image", "url"|"path"|"base64"} parts; datasets' Image feature decodes HF bytes;
- the chat text is rendered with test_chat_parity's TEMPLATE by transformers' Jinja engine, tokenized by
  Hugging Face tokenizers, each image expanded to the pads transformers' Qwen2VLImageProcessorPil gives it;
  pixel_values are compared with that processor's within 0.02 (test_image_parity's bar).
Image bytes given inline are compared with Python's base64 and PIL's decoding of the same bytes.  URLs are
served by a local HTTP server on 127.0.0.1 that the test starts (nothing else is contacted).
"""
import base64
import collections
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import types
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from PIL import Image

from test_chat_parity import MARKED, TEMPLATE

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"
MIN_PIXELS, MAX_PIXELS = 64 * 64, 128 * 128
IMG = ["--image-min-pixels", MIN_PIXELS, "--image-max-pixels", MAX_PIXELS]
LIMIT = 64 << 20  # media.h's VT_MEDIA_MAX_BYTES
# the CLI must reach 127.0.0.1 directly, whatever proxy the environment names
ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import PreTrainedTokenizerFast
    assert (TOKENIZER / "tokenizer.json").is_file(), "the Qwen3 tokenizer is missing: run tools/setup.sh --test"
    return PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER / "tokenizer.json"))


def noise(w, h, seed):
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))


def encoded(img, fmt):
    b = io.BytesIO()
    img.save(b, fmt)
    return b.getvalue()


def b64(data):
    return base64.b64encode(data).decode()


# ------------------------------------------------------------ local server ----

class Server:
    """Serves `files` (path -> (status, body, headers)) on 127.0.0.1 and counts the requests per path."""

    def __init__(self):
        self.files, self.hits = {}, collections.Counter()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] += 1
                try:
                    if self.path == "/stream-big":  # no Content-Length: the size is known only while reading
                        self.send_response(200)
                        self.send_header("Content-Type", "image/png")
                        self.end_headers()
                        chunk = b"\x89PNG\r\n\x1a\n" + bytes((1 << 20) - 8)
                        for _ in range(LIMIT // len(chunk) + 2):
                            self.wfile.write(chunk)
                        return
                    status, body, headers = server.files.get(self.path, (404, b"not found", {}))
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should for the oversized ones

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for k in list(os.environ):
        if "proxy" in k.lower():
            monkeypatch.delenv(k)  # the in-process references too
    s = Server()
    yield s
    s.close()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------- helpers ----

def run(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, env=ENV)


def encode(path, out):
    r = run("encode", "--model", TOKENIZER, "--data", path, "--out", out, *IMG)
    assert r.returncode == 0, r.stderr
    return {k: np.array(v) for k, v in mx.load(str(out)).items()}


def processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    return Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3, size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS})


def reference_ids(tokenizer, messages, images):
    """The chat text of `messages` (parts of type "image" in order) with each image's pads, tokenized."""
    text = tokenizer.apply_chat_template(messages, chat_template=TEMPLATE, tokenize=False)
    marker = "<|vision_start|><|image_pad|><|vision_end|>"
    assert text.count(marker) == len(images), "the reference conversation and its images disagree"
    proc = processor()
    for img in images:
        t, h, w = proc(images=[img], return_tensors="np")["image_grid_thw"][0]
        text = text.replace(marker, "<|vision_start|>" + "<|image_pad|>" * int(t * h * w // 4) + "\x02", 1)
    return tokenizer(text.replace("\x02", "<|vision_end|>"), add_special_tokens=False)["input_ids"]


def reference_mask(tokenizer, messages, images):
    """transformers' assistant-token mask of the rendered conversation (test_chat_parity.py's rule), each image's
    pad expanded to its token count."""
    out = tokenizer.apply_chat_template(messages, chat_template=MARKED, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    proc, pad = processor(), tokenizer.convert_tokens_to_ids("<|image_pad|>")
    counts = [int(t * h * w // 4) for t, h, w in (proc(images=[img], return_tensors="np")["image_grid_thw"][0]
                                                   for img in images)]
    mask = []
    for i, m in zip(out["input_ids"], out["assistant_masks"]):
        mask += [m] * (counts.pop(0) if i == pad else 1)
    return mask


def check_rows(tokenizer, enc, cases):
    """cases: (reference messages, reference PIL images) per row, in the file's order."""
    offs, poffs, proc = enc["token_offsets"], enc["patch_offsets"], processor()
    assert len(offs) == len(cases) + 1
    for r, (messages, images) in enumerate(cases):
        got = enc["input_ids"][offs[r]: offs[r + 1]].tolist()
        want = reference_ids(tokenizer, messages, images)
        assert got == want, f"row {r}: ids differ\n ours {got[:50]}\n ref  {want[:50]}"
        assert enc["loss_mask"][offs[r]: offs[r + 1]].tolist() == reference_mask(tokenizer, messages, images), \
            f"row {r}: mask"
        if images:
            ref = proc(images=images, return_tensors="np")["pixel_values"]
            ours = enc["pixel_values"][poffs[r]: poffs[r + 1]]
            assert ours.shape == ref.shape, f"row {r}: {ours.shape} vs {ref.shape}"
            worst = float(np.abs(ours - ref).max())
            assert worst <= 0.02, f"row {r}: pixel_values differ by {worst:.3g} (bar 0.02)"


# ------------------------------------------------- mlx-vlm / TRL row forms ----

def mlx_vlm_reference(row, base):
    """What mlx-vlm's SFT dataset makes of a row: its conversation as qwen3_vl messages, and its images."""
    from mlx_vlm.prompt_utils import apply_chat_template
    from mlx_vlm.trainer.vlm.sft.dataset import VisionDataset, _as_media_list, _media_value, _resolve_media
    from mlx_vlm.utils import load_image
    config = {"model_type": "qwen3_vl"}
    stub = types.SimpleNamespace(message_feature=None, config=config)
    conversation = VisionDataset._conversation(stub, row)
    media = [_resolve_media(m, base, image=True) for m in _as_media_list(_media_value(row, None, ("images", "image")))]
    images = [m if isinstance(m, Image.Image) else load_image(m) for m in media]
    messages = apply_chat_template(None, config, conversation, add_generation_prompt=False, return_messages=True,
                                   num_images=len(images))
    return messages, images


def mlx_vlm_cases(d):
    a, b = noise(200, 120, 1), noise(64, 96, 2)
    a.save(d / "a.png"), b.save(d / "b.png")
    noise(150, 150, 3).save(d / "c.jpg", quality=90)
    inline = encoded(noise(90, 70, 4), "PNG")
    hf_bytes = encoded(noise(80, 100, 5), "PNG")
    u = lambda *c: {"role": "user", "content": list(c)}  # noqa: E731
    txt = lambda s: {"type": "text", "text": s}  # noqa: E731
    marker = {"type": "image"}
    rows = [
        {"question": "What is here?", "answer": "Noise.", "image": "a.png"},
        {"question": "Compare.", "answer": "The first is wider.", "images": ["a.png", {"path": "b.png"}]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Describe."},
                      {"role": "assistant", "content": "Noise."}], "images": ["b.png"]},
        {"conversations": [{"from": "Human", "value": "Rate it."}, {"from": "BOT", "value": "7/10."}], "image": "c.jpg"},
        {"messages": [u(txt("First "), marker, txt(" then "), marker), {"role": "assistant", "content": [txt("Both.")]}],
         "images": ["a.png", "b.png"]},
        {"messages": [u(marker, txt("One?")), {"role": "assistant", "content": "Blue."}, u(marker, txt("Two?")),
                      {"role": "assistant", "content": "Green."}], "images": ["a.png", "c.jpg"]},
        {"question": "Inline?", "answer": "Yes.", "image": "data:image/png;base64," + b64(inline)},
        {"question": "Bytes?", "answer": "Yes.", "images": [{"bytes": b64(hf_bytes), "path": None}]},
        {"messages": json.dumps([{"role": "user", "content": "As a string."}, {"role": "assistant", "content": "Ok."}]),
         "image": "b.png"},
    ]
    # JSON has no bytes: what Hugging Face datasets hands mlx-vlm for {"bytes": ...} is the decoded base64
    as_mlx_vlm = [dict(r, images=[{"bytes": base64.b64decode(i["bytes"]), "path": None} for i in r["images"]])
                  if r.get("images") and isinstance(r["images"][0], dict) and "bytes" in r["images"][0] else r
                  for r in rows]
    return rows, [mlx_vlm_reference(r, d) for r in as_mlx_vlm]


@pytest.mark.parametrize("layout", ["jsonl", "json array"])
def test_mlx_vlm_and_trl_rows_match_mlx_vlm(tokenizer, tmp_path, layout):
    rows, cases = mlx_vlm_cases(tmp_path)
    data = tmp_path / ("rows.jsonl" if layout == "jsonl" else "rows.json")
    if layout == "jsonl":
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        data.write_text(json.dumps(rows, indent=2))
    check_rows(tokenizer, encode(data, tmp_path / "enc.safetensors"), cases)


def test_unmarked_images_of_multi_turn_rows_go_to_the_first_user_turn(tokenizer, tmp_path):
    """The one known difference from mlx-vlm: with images and no place marked, TRL's rule (written out here)
    puts them in the first user turn, mlx-vlm 0.7.10 in the last.  Asserted both ways, so a change shows."""
    a = noise(120, 80, 41)
    a.save(tmp_path / "a.png")
    turns = [{"role": "user", "content": "One?"}, {"role": "assistant", "content": "A."},
             {"role": "user", "content": "Two?"}, {"role": "assistant", "content": "B."}]
    row = {"messages": turns, "images": ["a.png"]}
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    first = [dict(turns[0], content=[{"type": "image"}, {"type": "text", "text": "One?"}])] + turns[1:]
    check_rows(tokenizer, encode(tmp_path / "rows.jsonl", tmp_path / "enc.safetensors"), [(first, [a])])
    theirs, _ = mlx_vlm_reference(row, tmp_path)
    assert [c["type"] for c in theirs[0]["content"]] == ["text"]
    assert [c["type"] for c in theirs[2]["content"]] == ["image", "text"]


def test_llama_factory_demo_array(tokenizer, tmp_path):
    """mllm_demo.json's layout: a JSON array, "<image>" where each image goes, paths relative to the file."""
    (tmp_path / "mllm_demo_data").mkdir()
    imgs = [noise(120, 90, 6), noise(100, 100, 7)]
    for i, img in enumerate(imgs):
        img.save(tmp_path / "mllm_demo_data" / f"{i + 1}.png")
    rows = [{"messages": [{"content": "<image>Who are they?", "role": "user"},
                          {"content": "They're players.", "role": "assistant"},
                          {"content": "What is <image> doing?", "role": "user"},
                          {"content": "Passing.", "role": "assistant"}],
             "images": ["mllm_demo_data/1.png", "mllm_demo_data/2.png"]}]
    (tmp_path / "mllm_demo.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    # LLaMA-Factory's rule, written out: each <image> is replaced by the next image, in order
    img, txt = {"type": "image"}, lambda s: {"type": "text", "text": s}  # noqa: E731
    messages = [{"role": "user", "content": [img, txt("Who are they?")]}, {"role": "assistant", "content": "They're players."},
                {"role": "user", "content": [txt("What is "), img, txt(" doing?")]}, {"role": "assistant", "content": "Passing."}]
    check_rows(tokenizer, encode(tmp_path / "mllm_demo.json", tmp_path / "enc.safetensors"), [(messages, imgs)])


# -------------------------------------------- OpenAI / transformers parts ----

def test_openai_and_transformers_parts_match_transformers(tokenizer, tmp_path, server):
    from mlx_vlm.utils import load_image as load_url  # transformers fetches URLs with httpx, absent here
    from transformers.image_utils import load_image
    from transformers.processing_utils import ProcessorMixin
    a, b, c = noise(200, 120, 11), noise(64, 96, 12), noise(150, 150, 13)
    server.files["/a.png"] = (200, encoded(a, "PNG"), {"Content-Type": "image/png"})
    server.files["/moved"] = (302, b"", {"Location": "/c.png"})
    server.files["/c.png"] = (200, encoded(c, "PNG"), {})
    b.save(tmp_path / "b.png")
    asst = {"role": "assistant", "content": "Ok."}
    rows = [
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": server.url + "/a.png"}},
                                                   {"type": "text", "text": "From the web."}]}, asst]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Inline: "}, {"type": "image_url", "image_url":
                      {"url": "data:image/png;base64," + b64(encoded(b, "PNG"))}}]}, asst]},
        {"messages": [{"role": "user", "content": [{"type": "image", "url": server.url + "/moved"},
                                                   {"type": "image", "path": str(tmp_path / "b.png")},
                                                   {"type": "image", "base64": b64(encoded(a, "PNG"))},
                                                   {"type": "text", "text": "Three."}]}, asst]},
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    enc = encode(data, tmp_path / "enc.safetensors")
    cases = []
    for row in rows:
        conv = ProcessorMixin._normalize_conversations(None, row["messages"])[0][0]
        sources = [blk[k] for m in conv if isinstance(m["content"], list) for blk in m["content"] if blk["type"] == "image"
                   for k in ("image", "url", "path", "base64") if k in blk]
        images = [load_url(s) if s.startswith("http") else load_image(s) for s in sources]
        cases.append((conv, images))
    check_rows(tokenizer, enc, cases)


def test_inline_bytes_are_the_given_bytes(tmp_path):
    """A data: URI's file holds exactly base64.b64decode's bytes; decoded, they are PIL's pixels."""
    from mlx_vlm.utils import load_image
    png = encoded(noise(77, 55, 21), "PNG")
    uri = "data:image/png;base64," + b64(png)
    gif = encoded(noise(40, 30, 22).convert("P"), "GIF")
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"prompt": "p", "response": "r", "images": [uri, {"bytes": b64(gif)}]}) + "\n")
    r = run("prepare", "--model", TOKENIZER, "--data", data, *IMG)
    assert r.returncode == 0, r.stderr
    files = list((tmp_path / ".vlmtune-cache" / "images").iterdir())
    pngs, gifs = [f for f in files if f.suffix == ".png"], [f for f in files if f.suffix == ".gif"]
    assert [f.read_bytes() for f in pngs] == [base64.b64decode(uri.split(",", 1)[1])]
    assert [f.read_bytes() for f in gifs] == [gif] and len(files) == 2
    for f, want in ((pngs[0], load_image(uri)), (gifs[0], Image.open(io.BytesIO(gif)).convert("RGB"))):
        rgb = tmp_path / "rgb.safetensors"
        r = run("image", "--image", f, "--rgb-out", rgb)
        assert r.returncode == 0, r.stderr
        assert np.array_equal(np.array(mx.load(str(rgb))["rgb"]), np.array(want)), f.name


# ------------------------------------------------------------- downloads ----

def test_urls_are_downloaded_once_and_every_failure_is_its_rows_error(tmp_path, server):
    a, a2 = encoded(noise(90, 60, 31), "PNG"), encoded(noise(300, 200, 32), "PNG")
    server.files["/a.png"] = (200, a, {"Content-Type": "image/png"})
    server.files["/moved"] = (301, b"", {"Location": "/a.png"})
    server.files["/page"] = (200, b"<!DOCTYPE html><p>Sign in</p>", {"Content-Type": "text/html"})
    server.files["/claims-big"] = (200, b"", {"Content-Length": str(1 << 40)})
    bad_b64 = "data:image/png;base64," + "A" * 5000 + "!"
    row = lambda img: json.dumps({"prompt": "p", "response": "r", "image": img}) + "\n"  # noqa: E731
    data = tmp_path / "rows.jsonl"
    data.write_text(row(server.url + "/a.png") + row(server.url + "/missing") + row(server.url + "/page") +
                    row(server.url + "/moved") + row(server.url + "/claims-big") + row(server.url + "/stream-big") +
                    row(f"http://127.0.0.1:{closed_port()}/x.png") + row(bad_b64))
    r = run("prepare", "--model", TOKENIZER, "--data", data, *IMG)
    assert r.returncode == 1
    want = [f"error: {data}:2: image 1: {server.url}/missing: the server answered HTTP 404",
            f"error: {data}:3: image 1: {server.url}/page: the 29 bytes are not an image",
            f"error: {data}:5: image 1: {server.url}/claims-big: the image is larger than the limit of {LIMIT} bytes",
            f"error: {data}:6: image 1: {server.url}/stream-big: the image is larger than the limit of {LIMIT} bytes",
            f"error: {data}:7: image 1: http://127.0.0.1:",
            f"error: {data}:8: image 1: {bad_b64[:32]}\u2026({len(bad_b64)} bytes): invalid base64 character '!' at "
            f"offset 5000"]
    for w in want:
        assert w in r.stderr, f"{w!r} not in\n{r.stderr}"
    assert "download failed" in r.stderr and "6 of 8 rows are invalid" in r.stderr
    assert "error" not in r.stdout and "A" * 100 not in r.stderr  # data URIs are never printed whole

    data.write_text(row(server.url + "/a.png") + row(server.url + "/moved"))
    hits = dict(server.hits)
    first = run("prepare", "--model", TOKENIZER, "--data", data, *IMG)
    assert first.returncode == 0, first.stderr
    again = run("prepare", "--model", TOKENIZER, "--data", data, *IMG)
    assert "from the cache" in again.stdout
    # rows 1 and 4 of the first run downloaded both; nothing was fetched again since
    assert server.hits == collections.Counter(hits)
    images = tmp_path / ".vlmtune-cache" / "images"
    assert [f.read_bytes() for f in images.iterdir() if f.suffix == ".png"] == [a]  # one file for both URLs

    # a changed image, downloaded again (its record removed), changes the rows' cache key
    server.files["/a.png"] = (200, a2, {})
    for f in images.glob("url-*"):
        if f.read_text().startswith(server.url + "/a.png\n"):
            f.unlink()
    third = run("prepare", "--model", TOKENIZER, "--data", data, *IMG)
    assert third.returncode == 0 and "from the cache" not in third.stdout, third.stdout
    assert server.hits["/a.png"] == hits["/a.png"] + 1
    assert sorted(f.read_bytes() for f in images.iterdir() if f.suffix == ".png") == sorted([a, a2])


# ------------------------------------------------------- files and folders ----

def test_json_array_errors_name_the_element_and_its_line(tmp_path):
    data = tmp_path / "rows.json"
    data.write_text('[\n  {"prompt": "p", "response": "r"},\n  {"prompt": "q"},\n  {"prompt": "x", "response": "y", '
                    '"image": 5}\n]\n')
    r = run("prepare", "--model", TOKENIZER, "--data", data)
    assert r.returncode == 1
    assert f'error: {data}:3: element [1]: missing field "response" (or "answer")' in r.stderr, r.stderr
    assert f'error: {data}:4: element [2]: field "image"' in r.stderr and "2 of 3 rows are invalid" in r.stderr


def test_nul_in_a_row_is_refused_with_its_place(tmp_path):
    data = tmp_path / "rows.jsonl"
    line = json.dumps({"prompt": "before\u0000after", "response": "r"})
    data.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n" + line + "\n")
    r = run("encode", "--model", TOKENIZER, "--data", data, "--out", tmp_path / "o.safetensors")
    col = line.index("\\u0000") + 1
    assert r.returncode == 1 and f"{data}:2: column {col}: \\u0000 (a NUL character)" in r.stderr, r.stderr


def test_prepare_reads_a_folder_of_splits(tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    (d / "train.jsonl").write_text(json.dumps({"prompt": "a", "response": "b"}) + "\n" +
                                   json.dumps({"question": "c", "answer": "d"}) + "\n")
    (d / "valid.json").write_text(json.dumps([{"prompt": "e", "response": "f"}]))
    r = run("prepare", "--model", TOKENIZER, "--data", d)
    assert r.returncode == 0, r.stderr
    assert f"{d}/train.jsonl: 2 rows" in r.stdout and f"{d}/valid.json: 1 rows" in r.stdout
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"prompt": "g", "response": "h"}) + "\n" * 3)
    r = run("prepare", "--model", TOKENIZER, "--data", d, "--valid", other)
    assert r.returncode == 0 and f"{other}: 1 rows" in r.stdout and "valid.json" not in r.stdout
    (d / "valid.jsonl").write_text("")
    r = run("prepare", "--model", TOKENIZER, "--data", d)
    assert r.returncode == 1 and "both valid.jsonl and valid.json are there" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("prepare", "--model", TOKENIZER, "--data", empty)
    assert r.returncode == 1 and "train.jsonl, valid.jsonl, test.jsonl (or .json); this one holds none" in r.stderr


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("fx")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(d), "--vocab", "151936",
                    "--layouts", "mlx"], check=True, capture_output=True)
    for f in TOKENIZER.iterdir():
        shutil.copy(f, d / "mlx" / f.name)
    return d / "mlx"


def test_eval_reads_the_test_split_else_valid(tiny_model, tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    (d / "train.jsonl").write_text(json.dumps({"prompt": "a", "response": "b"}) + "\n")
    (d / "valid.jsonl").write_text(json.dumps({"prompt": "Hi", "response": "Hello there."}) + "\n")
    (d / "test.json").write_text(json.dumps([{"question": "Q?", "answer": "An answer, longer."}]))
    loss = lambda out: out.split(": ", 1)[1]  # noqa: E731  "PATH: rows, tokens, loss, perplexity"
    for split, name in (("test", "test.json"), ("valid", "valid.jsonl")):
        by_folder, by_file = run("eval", "--model", tiny_model, "--data", d), run("eval", "--model", tiny_model,
                                                                                    "--data", d / name)
        assert by_folder.returncode == 0 and by_file.returncode == 0, by_folder.stderr + by_file.stderr
        assert by_folder.stdout.startswith(f"{d}/{name}: 1 rows"), by_folder.stdout
        assert loss(by_folder.stdout) == loss(by_file.stdout)
        (d / name).unlink()
    r = run("eval", "--model", tiny_model, "--data", d)
    assert r.returncode == 1 and "neither a test nor a valid split" in r.stderr


def test_train_reads_a_folder_of_splits(tiny_model, tmp_path):
    d = tmp_path / "set"
    d.mkdir()
    (d / "train.jsonl").write_text("".join(json.dumps({"prompt": f"Say {i}", "response": f"Number {i}."}) + "\n"
                                           for i in range(3)))
    (d / "valid.json").write_text(json.dumps([{"question": "Q?", "answer": "An answer."}]))
    common = ["--model", tiny_model, "--iters", "2", "--batch-size", "1", "--steps-per-eval", "2", "--seed", "1"]
    by_folder = run("train", *common, "--data", d, "--out", tmp_path / "a")
    by_file = run("train", *common, "--data", d / "train.jsonl", "--valid", d / "valid.json", "--out", tmp_path / "b")
    assert by_folder.returncode == 0 and by_file.returncode == 0, by_folder.stderr + by_file.stderr
    records = [[json.loads(line) for line in (tmp_path / r / "metrics.jsonl").read_text().splitlines()]
               for r in ("a", "b")]
    assert any("val_loss" in m for m in records[0])  # the folder's valid split was used
    assert [(m.get("loss"), m.get("val_loss")) for m in records[0]] == \
        [(m.get("loss"), m.get("val_loss")) for m in records[1]]

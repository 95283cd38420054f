"""`vlmtune encode` against the reference rendering of Qwen3-VL conversations.

The reference: transformers renders each conversation with a chat template and Hugging Face
`tokenizers` tokenizes the result; each <|image_pad|> is then expanded to the count that
transformers' Qwen2VLImageProcessorPil gives the image, as Qwen3-VL's processor does.

No installed package ships Qwen3-VL's chat template (it comes with the model's files, which cannot
be downloaded here), so TEMPLATE below is written from the format documented for Qwen3-VL-Instruct
(shared/spec/qwen3-vl.md §8): the Jinja engine, tokenizer and image processor are the references;
the template text is ours.  The loss mask is derived here independently from the reference ids.
"""
import json
import os
import subprocess
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from PIL import Image

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"
MAX_PIXELS = 128 * 128

TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER / "tokenizer.json"))


def image(path, w, h, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
    return path.name


def pads(path):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    proc = Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3, size={"shortest_edge": 64 * 64, "longest_edge": MAX_PIXELS})
    t, h, w = proc(images=[Image.open(path).convert("RGB")], return_tensors="np")["image_grid_thw"][0]
    return int(t * h * w // 4)


def conversations(d):
    """(row as written to the JSONL, the same conversation in the reference's message form)."""
    a, b, c = image(d / "a.png", 200, 120, 1), image(d / "b.png", 64, 96, 2), image(d / "c.png", 150, 150, 3)
    img = lambda p: {"type": "image", "image": p}  # noqa: E731
    txt = lambda s: {"type": "text", "text": s}  # noqa: E731
    u = lambda *c: {"role": "user", "content": list(c)}  # noqa: E731
    asst = lambda s: {"role": "assistant", "content": s}  # noqa: E731
    return [
        ({"prompt": "Hi", "response": "Hello."}, [u(txt("Hi")), asst("Hello.")]),
        ({"prompt": "Q?", "response": "A.", "system": "You are a photo critic."},
         [{"role": "system", "content": "You are a photo critic."}, u(txt("Q?")), asst("A.")]),
        ({"image": a, "prompt": "Critique this.", "response": "Warm light; the horizon sits low."},
         [u(img(a), txt("Critique this.")), asst("Warm light; the horizon sits low.")]),
        ({"image": [a, b], "prompt": "Compare.", "response": "The first is wider."},
         [u(img(a), img(b), txt("Compare.")), asst("The first is wider.")]),
        ({"messages": [u(txt("Look: "), img(c), txt(" what colour?")), asst("Mostly red.")]},
         [u(txt("Look: "), img(c), txt(" what colour?")), asst("Mostly red.")]),
        ({"messages": [u(img(a), txt("One.")), asst("Blue."), u(img(b), txt("Two?")), asst("Green.")]},
         [u(img(a), txt("One.")), asst("Blue."), u(img(b), txt("Two?")), asst("Green.")]),
        ({"messages": [{"role": "user", "content": "a"}, asst("b"), {"role": "user", "content": "c"}, asst("d\n\ne")]},
         [u(txt("a")), asst("b"), u(txt("c")), asst("d\n\ne")]),
        ({"conversations": [{"from": "human", "value": "<image>Rate <image>."}, {"from": "gpt", "value": "7/10."}],
          "images": [a, c]},
         [u(img(a), txt("Rate "), img(c), txt(".")), asst("7/10.")]),
        ({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Describe."},
                       asst("A cat.")], "images": [b]},
         [{"role": "system", "content": "Be brief."}, u(img(b), txt("Describe.")), asst("A cat.")]),
        ({"prompt": "Ünïcode — 你好 😀?", "response": "  Leading spaces, tabs\tand emoji 👍🏽."},
         [u(txt("Ünïcode — 你好 😀?")), asst("  Leading spaces, tabs\tand emoji 👍🏽.")]),
        ({"image": c, "prompt": "", "response": "An empty prompt still renders."},
         [u(img(c), txt("")), asst("An empty prompt still renders.")]),
    ]


def expected_mask(ids, tokenizer):
    """1 from the first token after '<|im_start|>assistant\\n' through '<|im_end|>' and the '\\n' after it."""
    start, end = tokenizer.convert_tokens_to_ids("<|im_start|>"), tokenizer.convert_tokens_to_ids("<|im_end|>")
    head = tokenizer("assistant\n", add_special_tokens=False)["input_ids"]
    nl = tokenizer("\n", add_special_tokens=False)["input_ids"]
    mask, i = [0] * len(ids), 0
    while i < len(ids):
        if ids[i] == start and ids[i + 1: i + 1 + len(head)] == head:
            j = i + 1 + len(head)
            while ids[j] != end:
                mask[j] = 1
                j += 1
            mask[j] = 1
            if ids[j + 1: j + 1 + len(nl)] == nl:
                for k in range(len(nl)):
                    mask[j + 1 + k] = 1
            i = j
        i += 1
    return mask


def test_conversations(tokenizer, tmp_path):
    cases = conversations(tmp_path)
    assert len(cases) >= 10
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row, _ in cases), encoding="utf-8")
    out = tmp_path / "enc.safetensors"
    subprocess.run([CLI, "encode", "--model", str(TOKENIZER), "--data", str(data), "--out", str(out), "--image-min-pixels",
                    str(64 * 64), "--image-max-pixels", str(MAX_PIXELS)], check=True)
    enc = {k: np.array(v) for k, v in mx.load(str(out)).items()}
    offs = enc["token_offsets"]
    for r, (row, messages) in enumerate(cases):
        got = enc["input_ids"][offs[r]: offs[r + 1]].tolist()
        want = reference_ids(tokenizer, messages, tmp_path)
        assert got == want, f"row {r}: ids differ\n ours {got[:60]}\n ref  {want[:60]}"
        mask = enc["loss_mask"][offs[r]: offs[r + 1]].tolist()
        assert mask == expected_mask(want, tokenizer), f"row {r}: loss mask differs"
    assert len(enc["image_grid_thw"]) == enc["image_offsets"][-1] == 10


def reference_ids(tokenizer, messages, d):
    text = tokenizer.apply_chat_template(messages, chat_template=TEMPLATE, tokenize=False)
    marker = "<|vision_start|><|image_pad|><|vision_end|>"
    for m in messages:
        for c in m["content"] if isinstance(m["content"], list) else []:
            if c["type"] == "image":
                text = text.replace(marker, "<|vision_start|>" + "<|image_pad|>" * pads(d / c["image"]) + "\x02", 1)
    text = text.replace("\x02", "<|vision_end|>")
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_bad_rows(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n{"image": "missing.jpg", "prompt": "a", "response": "b"}\n')
    r = subprocess.run([CLI, "encode", "--model", str(TOKENIZER), "--data", str(data), "--out",
                        str(tmp_path / "o.safetensors")], capture_output=True, text=True)
    assert r.returncode == 1 and f"{data}:2: " in r.stderr and "missing.jpg: image file not found" in r.stderr, r.stderr

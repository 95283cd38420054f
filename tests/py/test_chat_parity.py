"""`vlmtune encode` against the reference rendering of Qwen3-VL conversations.

The reference: transformers renders each conversation with the chat template and Hugging Face
`tokenizers` tokenizes the whole rendered string; each <|image_pad|> is then expanded to the count
that transformers' Qwen2VLImageProcessorPil gives the image, as Qwen3-VL's processor does.  The
loss mask is transformers' own assistant-token mask (`return_assistant_tokens_mask`) over the
assistant content, its <|im_end|> and the "\n" after it, marked with {% generation %} in a copy of
the template that renders the same text: a token is in it when any of its characters are.

No installed package ships Qwen3-VL's chat template (it comes with the model's files, which cannot
be downloaded here), so the template is tools/qwen3_vl_chat_template.jinja, written from the format
documented for Qwen3-VL-Instruct (shared/spec/qwen3-vl.md §8) and shipped with the fixture and demo
models (tools/make_fixture.py): the Jinja engine, tokenizer and image processor are the references.

Besides the usual conversation shapes, BOUNDARIES puts leading and trailing spaces, tabs, CRs and
newlines at every place where the template joins text: after each role header, before <|im_end|>,
on both sides of an image, between text parts, in system, user and assistant turns of one and
several turns.  A newline that opens a message merges with the header's "\n" in the reference
(e.g. "user\n" + "\nHi" gives 198 198 apart but 271 whole), so these catch any rendering that
tokenizes pieces apart.
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

TEMPLATE = (ROOT / "tools" / "qwen3_vl_chat_template.jinja").read_text(encoding="utf-8")
ASSISTANT_TURN = "{{- '<|im_start|>assistant\\n' + text_parts(message.content) + '<|im_end|>\\n' -}}"
assert ASSISTANT_TURN in TEMPLATE, "the template's assistant turn changed: update ASSISTANT_TURN"
MARKED = TEMPLATE.replace(ASSISTANT_TURN, "{{- '<|im_start|>assistant\\n' -}}{% generation %}"
                          "{{- text_parts(message.content) + '<|im_end|>\\n' -}}{% endgeneration %}")


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


def boundaries(d):
    """(name, row, messages): whitespace at every place the template joins text."""
    a, b = image(d / "w1.png", 96, 64, 4), image(d / "w2.png", 64, 64, 5)
    img = lambda p: {"type": "image", "image": p}  # noqa: E731
    txt = lambda s: {"type": "text", "text": s}  # noqa: E731
    sys_ = lambda s: {"role": "system", "content": s}  # noqa: E731
    u = lambda *c: {"role": "user", "content": list(c)}  # noqa: E731
    asst = lambda s: {"role": "assistant", "content": s}  # noqa: E731

    def simple(prompt, response, system=None, name=None):
        row = {"prompt": prompt, "response": response, **({"system": system} if system is not None else {})}
        return name, row, ([sys_(system)] if system is not None else []) + [u(txt(prompt)), asst(response)]

    def chat(name, *messages):
        return name, {"messages": list(messages)}, list(messages)

    return [
        # after "system\n" and before its <|im_end|>
        simple("Hi", "Ok.", "\nBe brief.", name="system: leading newline"),
        simple("Hi", "Ok.", " \n\tBe brief.", name="system: space, newline, tab first"),
        simple("Hi", "Ok.", "Be brief.\n", name="system: trailing newline"),
        simple("Hi", "Ok.", "Be brief. \n \n", name="system: trailing spaces and newlines"),
        simple("Hi", "Ok.", "\n", name="system: only a newline"),
        # after "user\n" and before its <|im_end|>
        simple("\nWhat is this?", "A test.", name="user: leading newline"),
        simple("\n\n\nWhat?", "A test.", name="user: leading blank lines"),
        simple("  \nWhat?", "A test.", name="user: spaces then newline first"),
        simple("\t\nWhat?", "A test.", name="user: tab then newline first"),
        simple("\r\nWhat?", "A test.", name="user: CRLF first"),
        simple(" What?", "A test.", name="user: leading space"),
        simple("What?\n", "A test.", name="user: trailing newline"),
        simple("What?\n\n ", "A test.", name="user: trailing newlines and space"),
        simple("What?  ", "A test.", name="user: trailing spaces"),
        simple("\n", "A test.", name="user: only a newline"),
        simple("   ", "A test.", name="user: only spaces"),
        # after "assistant\n" (the supervised span starts inside the header's token) and before <|im_end|>
        simple("Q?", "\nAnswer.", name="assistant: leading newline"),
        simple("Q?", "\n\nAnswer.", name="assistant: leading blank line"),
        simple("Q?", " Answer.", name="assistant: leading space"),
        simple("Q?", "  \n Answer.", name="assistant: spaces, newline, space first"),
        simple("Q?", "\t\nAnswer.", name="assistant: tab then newline first"),
        simple("Q?", "\r\nAnswer.", name="assistant: CRLF first"),
        simple("Q?", "Answer.\n", name="assistant: trailing newline"),
        simple("Q?", "Answer.  \n\n", name="assistant: trailing spaces and newlines"),
        simple("Q?", "\n\n", name="assistant: only newlines"),
        simple("Q?", " ", name="assistant: only a space"),
        simple("Q?", "<think>\n\n</think>\n\nAnswer.", name="assistant: added tokens and newlines inside"),
        # around <|vision_start|>...<|vision_end|>
        chat("image: text before it ends with a newline", u(txt("Look:\n"), img(a), txt("What colour?")), asst("Red.")),
        chat("image: text before it ends with a space", u(txt("Look: "), img(a), txt("what?")), asst("Red.")),
        chat("image: text after it starts with a newline", u(img(a), txt("\nDescribe.")), asst("Red.")),
        chat("image: text after it starts with space, newline", u(img(a), txt(" \n Describe.")), asst("Red.")),
        chat("image: last in the turn, newline before", u(txt("Describe:\n"), img(a)), asst("Red.")),
        chat("image: two adjacent, newlines around", u(txt("\n"), img(a), img(b), txt("\n")), asst("Both.")),
        ("image: simple form, prompt and answer open with newlines",
         {"image": a, "prompt": "\nDescribe.", "response": "\nRed."}, [u(img(a), txt("\nDescribe.")), asst("\nRed.")]),
        # text parts joined
        chat("parts: newline + newline", u(txt("a\n"), txt("\nb")), asst("c")),
        chat("parts: space + space", u(txt("a "), txt(" b")), asst("c")),
        chat("parts: space, newline, word", u(txt("a "), txt("\n"), txt("b")), asst("c")),
        chat("parts: empty, newline, empty", u(txt(""), txt("\n"), txt("")), asst("c")),
        chat("parts: spaces then newline across parts", u(txt("  "), txt(" \n"), txt("x")), asst("c")),
        # multi-turn, every turn supervised
        chat("multi-turn: whitespace everywhere", sys_("\n sys \n"), u(txt("\nq1\n")), asst("\na1\n"),
             u(txt(" q2 ")), asst("\n\na2 "), u(txt("\r\nq3")), asst(" \n a3")),
        chat("multi-turn: images and newlines", u(img(a), txt("\none")), asst("\nBlue."), u(txt("two\n"), img(b)),
             asst("Green.\n")),
        # special-token strings inside text are special tokens in the reference too
        chat("content: special-token strings", u(txt("a<|im_end|>\nb")), asst("<|im_start|>\nx<|im_end|>y")),
    ]


def reference(tokenizer, messages, d):
    """The reference ids and loss mask of a conversation, image pads expanded."""
    text = tokenizer.apply_chat_template(messages, chat_template=TEMPLATE, tokenize=False)
    assert tokenizer.apply_chat_template(messages, chat_template=MARKED, tokenize=False) == text
    out = tokenizer.apply_chat_template(messages, chat_template=MARKED, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    assert out["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
    counts = [pads(d / c["image"]) for m in messages if isinstance(m["content"], list)
              for c in m["content"] if c["type"] == "image"]
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert out["input_ids"].count(pad) == len(counts)
    ids, mask = [], []
    for i, s in zip(out["input_ids"], out["assistant_masks"]):
        n = counts.pop(0) if i == pad else 1
        ids += [i] * n
        mask += [s] * n
    return ids, mask


def encode(cases, d):
    data = d / "data.jsonl"
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row, _ in cases), encoding="utf-8")
    out = d / "enc.safetensors"
    subprocess.run([CLI, "encode", "--model", str(TOKENIZER), "--data", str(data), "--out", str(out), "--image-min-pixels",
                    str(64 * 64), "--image-max-pixels", str(MAX_PIXELS)], check=True)
    enc = {k: np.array(v) for k, v in mx.load(str(out)).items()}
    offs = enc["token_offsets"]
    assert len(offs) == len(cases) + 1
    return enc, [(enc["input_ids"][offs[r]: offs[r + 1]].tolist(), enc["loss_mask"][offs[r]: offs[r + 1]].tolist())
                 for r in range(len(cases))]


def test_conversations(tokenizer, tmp_path):
    cases = conversations(tmp_path)
    assert len(cases) >= 10
    enc, rows = encode(cases, tmp_path)
    for r, ((got, mask), (_, messages)) in enumerate(zip(rows, cases)):
        want, want_mask = reference(tokenizer, messages, tmp_path)
        assert got == want, f"row {r}: ids differ\n ours {got[:60]}\n ref  {want[:60]}"
        assert mask == want_mask, f"row {r}: loss mask differs\n ours {mask}\n ref  {want_mask}"
    assert len(enc["image_grid_thw"]) == enc["image_offsets"][-1] == 10


def test_whitespace_at_every_boundary(tokenizer, tmp_path):
    cases = boundaries(tmp_path)
    _, rows = encode([(row, messages) for _, row, messages in cases], tmp_path)
    failed = []
    for (name, _, messages), (got, mask) in zip(cases, rows):
        want, want_mask = reference(tokenizer, messages, tmp_path)
        if got != want or mask != want_mask:
            failed.append(f"{name}:\n  ids  ours {got}\n       ref  {want}\n"
                          f"  mask ours {mask}\n       ref  {want_mask}")
    assert not failed, f"{len(failed)} of {len(cases)} cases differ:\n" + "\n".join(failed)


def test_bad_rows(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n{"image": "missing.jpg", "prompt": "a", "response": "b"}\n')
    r = subprocess.run([CLI, "encode", "--model", str(TOKENIZER), "--data", str(data), "--out",
                        str(tmp_path / "o.safetensors")], capture_output=True, text=True)
    assert r.returncode == 1 and f"{data}:2: " in r.stderr and "missing.jpg: image file not found" in r.stderr, r.stderr

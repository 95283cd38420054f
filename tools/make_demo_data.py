#!/usr/bin/env python3
"""A synthetic photo-critique dataset with known answers (tool for `make demo`; not on the product's path).

Each image shows a coloured subject in a bright or dark frame, either large (it fills most of the
frame) or small (half the width, anywhere).  Its properties are drawn at random:
  colour     red, green, blue, yellow
  size       large, small
  light      bright, dark
and the critique states them in one template, so an answer can be scored: it is right for a
property when it names that property's true value and no other value of it.

usage: make_demo_data.py OUT_DIR [--train N] [--valid N] [--test N] [--size PX] [--seed S]
writes OUT_DIR/{train,valid,test}.jsonl, OUT_DIR/{split}_answers.jsonl (the true properties, one
line per row) and OUT_DIR/images/*.png.
"""
import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 80, 230), "yellow": (235, 210, 40)}
SIZES = ["large", "small"]
LIGHTS = {"bright": (235, 235, 235), "dark": (25, 25, 25)}
PROMPTS = ["Critique this photo.", "What do you think of this picture?", "Give me feedback on this shot."]
PROPERTIES = {"colour": list(COLOURS), "size": SIZES, "light": list(LIGHTS)}


def draw(props, size, rng):
    img = Image.new("RGB", (size, size), LIGHTS[props["light"]])
    d = ImageDraw.Draw(img)
    side = size * 3 // 4 if props["size"] == "large" else size // 2
    x0, y0 = rng.randrange(size - side + 1), rng.randrange(size - side + 1)
    d.rectangle([x0, y0, x0 + side - 1, y0 + side - 1], fill=COLOURS[props["colour"]])
    return img


def critique(p):
    return f"A {p['size']} {p['colour']} subject in a {p['light']} frame."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=96)
    ap.add_argument("--valid", type=int, default=16)
    ap.add_argument("--test", type=int, default=48)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = Path(a.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    k = 0
    for split, n in (("train", a.train), ("valid", a.valid), ("test", a.test)):
        rows, answers = [], []
        for _ in range(n):
            props = {name: rng.choice(values) for name, values in PROPERTIES.items()}
            path = f"images/{k:05d}.png"
            k += 1
            draw(props, a.size, rng).save(out / path)
            rows.append({"image": path, "prompt": rng.choice(PROMPTS), "response": critique(props)})
            answers.append(props)
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (out / f"{split}_answers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in answers))


if __name__ == "__main__":
    main()

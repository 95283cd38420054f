#!/usr/bin/env python3
"""A synthetic photo-critique dataset with known answers (tool for `make demo`; not on the product's path).

Each image is a plain background with one shape drawn on it.  Its properties are chosen at random:
  colour     the shape's colour:   red, green, blue, yellow
  shape      circle, square, triangle
  placement  left, right
  light      bright or dark background
and the critique states them in a fixed template, so a model that reads the image can be scored:
an answer is right for a property when it names that property's true value and no other value.

usage: make_demo_data.py OUT_DIR [--train N] [--valid N] [--test N] [--size PX] [--seed S]
writes OUT_DIR/{train,valid,test}.jsonl and OUT_DIR/images/*.png; test.jsonl rows also carry
"properties" (ignored by vlmtune's loader? no: kept in a separate answers file test_answers.jsonl).
"""
import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 80, 230), "yellow": (235, 210, 40)}
SHAPES = ["circle", "square", "triangle"]
PLACES = ["left", "right"]
LIGHTS = {"bright": (235, 235, 235), "dark": (25, 25, 25)}
PROMPTS = ["Critique this photo.", "What do you think of this picture?", "Give me feedback on this shot."]
PROPERTIES = {"colour": list(COLOURS), "shape": SHAPES, "placement": PLACES, "light": list(LIGHTS)}


def draw(props, size):
    img = Image.new("RGB", (size, size), LIGHTS[props["light"]])
    d = ImageDraw.Draw(img)
    r = size // 4
    cx = size // 4 if props["placement"] == "left" else 3 * size // 4
    cy = size // 2
    fill = COLOURS[props["colour"]]
    if props["shape"] == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif props["shape"] == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return img


def critique(p):
    return (f"A {p['colour']} {p['shape']} on the {p['placement']}, against a {p['light']} background. "
            f"Move the {p['shape']} toward the centre.")


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
            draw(props, a.size).save(out / path)
            rows.append({"image": path, "prompt": rng.choice(PROMPTS), "response": critique(props)})
            answers.append(props)
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (out / f"{split}_answers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in answers))


if __name__ == "__main__":
    main()

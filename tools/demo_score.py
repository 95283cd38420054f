#!/usr/bin/env python3
"""Scores `vlmtune eval --generate --per-sample` answers against the demo's known properties.

usage: demo_score.py ANSWERS.jsonl BASE.jsonl TUNED.jsonl [--min-share 0.9]

An answer states a property right when it names the true value and no other value of that
property (make_demo_data.py defines them).  Prints, for the base model and the fine-tuned one,
the held-out loss and the share of answers right on each property and on all of them; exits 1
when the fine-tuned share of all-right answers is below --min-share.
"""
import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_demo_data import PROPERTIES  # noqa: E402


def states(answer, prop, value):
    words = set(re.findall(r"[a-z]+", answer.lower()))
    return value in words and not any(v in words for v in PROPERTIES[prop] if v != value)


def score(truth, rows):
    right = {p: 0 for p in PROPERTIES}
    all_right = 0
    for t, r in zip(truth, rows):
        ok = [states(r["generated"], p, t[p]) for p in PROPERTIES]
        for p, good in zip(PROPERTIES, ok):
            right[p] += good
        all_right += all(ok)
    n = len(rows)
    loss = sum(r["loss"] * r["tokens"] for r in rows) / sum(r["tokens"] for r in rows)
    return loss, {p: right[p] / n for p in PROPERTIES}, all_right / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("answers")
    ap.add_argument("base")
    ap.add_argument("tuned")
    ap.add_argument("--min-share", type=float, default=0.9)
    a = ap.parse_args()
    truth = [json.loads(l) for l in Path(a.answers).read_text().splitlines()]
    table = {}
    for name, path in (("base", a.base), ("fine-tuned", a.tuned)):
        rows = [json.loads(l) for l in Path(path).read_text().splitlines()]
        assert len(rows) == len(truth), f"{path}: {len(rows)} rows, expected {len(truth)}"
        table[name] = score(truth, rows)
    chance = {p: 1 / len(v) for p, v in PROPERTIES.items()}
    all_chance = 1.0
    for c in chance.values():
        all_chance *= c
    props = list(PROPERTIES)
    print(f"\nheld-out split: {len(truth)} photos; share of answers stating each property right")
    print(f"{'':12} {'loss':>8} " + " ".join(f"{p:>10}" for p in props) + f" {'all right':>10}")
    print(f"{'chance':12} {'':>8} " + " ".join(f"{chance[p]:10.0%}" for p in props) + f" {all_chance:10.1%}")
    for name, (loss, share, all_share) in table.items():
        print(f"{name:12} {loss:8.4f} " + " ".join(f"{share[p]:10.0%}" for p in props) + f" {all_share:10.1%}")
    tuned = table["fine-tuned"][2]
    if tuned < a.min_share:
        print(f"demo failed: the fine-tuned model states every property right in {tuned:.0%} of answers "
              f"(needs {a.min_share:.0%})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

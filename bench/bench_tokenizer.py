#!/usr/bin/env python3
"""Single-thread encode throughput: vlmtune's tokenizer against Hugging Face `tokenizers` (same file, same text).

The committed corpus (tests/data/tokenizer_corpus.jsonl) is repeated to about 4 MB of text.  vlmtune runs
`vlmtune tokenize --file` (load time measured separately on an empty file and subtracted); `tokenizers`
encodes the same string in one call with parallelism off.  Median of RUNS runs each; table with the ratio.
usage: bench_tokenizer.py [--runs 5] [--mb 4]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mb", type=float, default=4)
    args = ap.parse_args()
    from tokenizers import Tokenizer
    tok_dir = ROOT / ".cache" / "qwen3-tokenizer"
    cli = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
    lines = [json.loads(l) for l in (ROOT / "tests/data/tokenizer_corpus.jsonl").read_text("utf-8").splitlines()]
    unit = "\n".join(lines) + "\n"
    text = unit * max(1, int(args.mb * 1e6 / len(unit.encode())))
    tmp = Path(tempfile.mkdtemp())
    (tmp / "big.txt").write_text(text, encoding="utf-8")
    (tmp / "empty.txt").write_text("", encoding="utf-8")
    ref = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    n_tokens = len(ref.encode(text).ids)

    def ours(path):
        t0 = time.perf_counter()
        subprocess.run([cli, "tokenize", "--model", str(tok_dir), "--file", str(path)], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    vt, hf = [], []
    for _ in range(args.runs):
        vt.append(ours(tmp / "big.txt") - ours(tmp / "empty.txt"))
        t0 = time.perf_counter()
        ref.encode(text)
        hf.append(time.perf_counter() - t0)
    mb = len(text.encode()) / 1e6
    a, b = statistics.median(vt), statistics.median(hf)
    print(f"encode {mb:.1f} MB ({n_tokens:,} tokens), one thread, median of {args.runs}")
    print(f"{'':<24}{'seconds':>10}{'MB/s':>10}{'tokens/s':>14}")
    print(f"{'vlmtune':<24}{a:>10.3f}{mb / a:>10.2f}{n_tokens / a:>14,.0f}")
    print(f"{'HF tokenizers 0.23.3':<24}{b:>10.3f}{mb / b:>10.2f}{n_tokens / b:>14,.0f}")
    print(f"{'ratio (vlmtune speed)':<24}{b / a:>10.2f}x")


if __name__ == "__main__":
    main()

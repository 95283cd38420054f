"""vlmtune compare: the aggregate figures of a report, computed here from the rows (math), and its errors."""
import json
import math
import os
import subprocess
from pathlib import Path

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))

BASE = [{"row": 0, "line": 1, "loss": 2.0, "tokens": 10, "generated": "a red | cat", "reference": "A red cat.",
         "exact": False, "f1": 0.5},
        {"row": 1, "line": 2, "loss": 1.0, "tokens": 30, "generated": "blue", "reference": "Blue.", "exact": True,
         "f1": 1.0}]
TUNED = [dict(BASE[0], loss=0.5, generated="A red cat.", exact=True, f1=1.0), dict(BASE[1], loss=0.25)]


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_report_figures(tmp_path):
    a, b = write(tmp_path / "a.jsonl", BASE), write(tmp_path / "b.jsonl", TUNED)
    r = subprocess.run([CLI, "compare", str(a), str(b), "--out", str(tmp_path / "r.md")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "r.md").read_text()
    la, lb = (2.0 * 10 + 1.0 * 30) / 40, (0.5 * 10 + 0.25 * 30) / 40  # token-weighted means
    assert f"| base | 2 | 40 | {la:.4f} | {math.exp(la):.3f} | 50.0% | 0.750 |" in md
    assert f"| fine-tuned | 2 | 40 | {lb:.4f} | {math.exp(lb):.3f} | 100.0% | 1.000 |" in md
    assert f"| difference | | | {lb - la:+.4f} | {math.exp(lb) - math.exp(la):+.3f} | +50.0 points | +0.250 |" in md
    examples = md.split("## Examples")[1].splitlines()
    assert examples[4].startswith("| 0 | A red cat. | a red \\| cat | A red cat. |")  # differing rows first


def test_mismatched_or_foreign_files_are_errors(tmp_path):
    a = write(tmp_path / "a.jsonl", BASE)
    r = subprocess.run([CLI, "compare", str(a), str(write(tmp_path / "b.jsonl", TUNED[:1]))], capture_output=True, text=True)
    assert r.returncode == 1 and "not the same data" in r.stderr
    (tmp_path / "c.jsonl").write_text('{"x": 1}\n')
    r = subprocess.run([CLI, "compare", str(a), str(tmp_path / "c.jsonl")], capture_output=True, text=True)
    assert r.returncode == 1 and "c.jsonl:1:" in r.stderr

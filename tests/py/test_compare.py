"""vlmtune compare: the aggregate figures of a report, computed here from the rows (math), and its errors;
the HTML report as a browser reads it (photos reachable by their links, prompts, text that wraps); the
prompt and images `vlmtune eval --per-sample` gives each row, against the data file."""
import json
import math
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

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


class Page(HTMLParser):
    """The parts of the HTML report a reader sees: the examples' cells (text as the browser shows it, with
    the cell's class), the images' sources and links, and the style sheet."""

    def __init__(self):
        super().__init__()
        self.rows, self.style, self.cell, self.in_style, self.in_examples = [], "", None, False, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "style":
            self.in_style = True
        elif tag == "table":
            self.in_examples = a.get("class") == "examples"
        elif tag == "tr" and self.in_examples:
            self.rows.append({"cells": [], "img": [], "href": []})
        elif tag == "td" and self.in_examples:
            self.cell = {"class": a.get("class"), "text": ""}
            self.rows[-1]["cells"].append(self.cell)
        elif tag == "img" and self.in_examples:
            self.rows[-1]["img"].append(a["src"])
        elif tag == "a" and self.in_examples:
            self.rows[-1]["href"].append(a["href"])
        elif tag == "div" and self.cell is not None:
            self.cell = None  # the score under an answer is not the answer

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False
        elif tag == "td":
            self.cell = None
        elif tag == "table":
            self.in_examples = False

    def handle_data(self, data):
        if self.in_style:
            self.style += data
        elif self.cell is not None:
            self.cell["text"] += data


def test_html_report_shows_photos_prompts_and_wraps_answers(tmp_path):
    images = tmp_path / "data" / "images dir"
    images.mkdir(parents=True)
    photos = [images / "a #1.png", images / "b%.png"]  # characters a URL must encode
    for p in photos:
        p.write_bytes(b"\x89PNG\r\n\x1a\n")  # the report links the files; their content is not read
    long_answer = "word " * 200 + "x" * 500
    prompts = ["Critique this photo.\nBe specific about <light> & colour.", "Give me feedback."]
    base = [dict(r, images=[str(p)], prompt=q) for r, p, q in zip(BASE, photos, prompts)]
    tuned = [dict(r, images=[str(p)], prompt=q) for r, p, q in zip(TUNED, photos, prompts)]
    tuned[1]["generated"] = long_answer
    (tmp_path / "out").mkdir()
    report = tmp_path / "out" / "report.html"
    r = subprocess.run([CLI, "compare", str(write(tmp_path / "a.jsonl", base)), str(write(tmp_path / "b.jsonl", tuned)),
                        "--out", str(report)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    page = Page()
    page.feed(report.read_text())
    assert len(page.rows) == 3  # the header and two examples
    shown = {}
    for row in page.rows[1:]:
        cells = [c["text"] for c in row["cells"]]
        shown[int(cells[0])] = row
        i = int(cells[0])
        # the photo: a thumbnail and a link, both relative to the report's folder, reaching the file
        assert row["img"] and row["href"] == row["img"]
        assert not row["img"][0].startswith("/") and "://" not in row["img"][0]
        assert (report.parent / unquote(row["img"][0])).resolve() == photos[i].resolve()
        assert cells[2] == prompts[i]  # the prompt, line break and markup characters as written
        assert cells[3] == BASE[i]["reference"] and cells[4] == base[i]["generated"] and cells[5] == tuned[i]["generated"]
        assert all(c["class"] == "text" for c in row["cells"][2:])
    assert list(shown) == [0, 1]  # the row whose answers differ first
    # long answers wrap: the text cells keep line breaks, break long lines, and break words longer than the cell
    rule = re.search(r"td\.text\s*\{([^}]*)\}", page.style)
    assert rule and re.search(r"white-space:\s*pre-wrap", rule.group(1))
    assert re.search(r"overflow-wrap:\s*(anywhere|break-word)", rule.group(1))
    assert re.search(r"table\.examples\s*\{[^}]*table-layout:\s*fixed", page.style)  # cells keep their width


def test_markdown_report_links_photos_and_shows_prompts(tmp_path):
    photo = tmp_path / "img" / "p 1.png"
    photo.parent.mkdir()
    photo.write_bytes(b"x")
    rows = [dict(r, images=[str(photo)], prompt="What | now?") for r in BASE]
    out = tmp_path / "r.md"
    r = subprocess.run([CLI, "compare", str(write(tmp_path / "a.jsonl", rows)), str(write(tmp_path / "b.jsonl", rows)),
                        "--out", str(out), "--examples", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    examples = out.read_text().split("## Examples")[1].splitlines()
    assert examples[2] == "| row | photo | prompt | reference | base | fine-tuned |"
    assert examples[4].startswith("| 0 | [photo](img/p%201.png) | What \\| now? | A red cat. |")


def test_eval_rows_carry_prompt_and_images(train_setup):
    model, data = train_setup
    r = subprocess.run([CLI, "eval", "--model", str(model), "--data", str(data / "valid.jsonl"), "--per-sample"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    given = [json.loads(l) for l in (data / "valid.jsonl").read_text().splitlines()]
    assert len(rows) == len(given) > 0
    for got, want in zip(rows, given):
        assert got["prompt"] == want["prompt"]
        assert got["images"] == [str((data / want["image"]).resolve())]

"""What a person watching `vlmtune train` sees, and what the run records whoever watches.

On a pseudo-terminal of 80 and of 160 columns (window size set with TIOCSWINSZ), the output is played
through a small terminal model (\\r, \\n, ESC[K, and text written at the cursor): no row may reach the
last column (where a terminal wraps, and each redraw would leave a stale row), the live bar must have been
drawn, and a report line must stay in the scrollback every steps_per_report steps.  Piped, the report
lines are exactly today's one-line format.  metrics.jsonl holds the same records either way (times
aside), and tokens/s counts training time only: with a validation after every step and a report every
step, tokens/s × ms/step is a whole number of tokens, and over one epoch these add up to the training
split's encoded length (from `vlmtune encode`)."""
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
STEPS, EVERY = 4, 2
REPORT = re.compile(r"^step (\d+)/(\d+) \| epoch [\d.]+ \| loss [\d.]+ \| lr [\d.e+-]+ \| \d+ tok/s \| trained \d+ tok \| "
                    r"peak [\d.]+ GB \| \d+ ms/step \| ETA \S+$")
TIMES = {"tokens_per_s", "ms_per_step", "host_ms", "peak_mem_gb"}  # measured, not computed: they differ run to run


def train_cmd(setup, out, *extra):
    model, data = setup
    return [CLI, "train", "--model", str(model), "--data", str(data), "--out", str(out), "--iters", str(STEPS),
            "--steps-per-report", str(EVERY), "--steps-per-eval", str(EVERY), "--seed", "1", *extra]


def run_in_terminal(cmd, columns, rows=24):
    """Runs cmd with stdout and stderr on a pseudo-terminal of the given size; returns (exit code, bytes)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(), bytes(out)


def render(raw, columns):
    """Plays the bytes through a terminal model that wraps as a terminal does (text past the last column
    goes on a new row).  Returns (rows, stale) where rows are (text, logical line number) and stale
    counts carriage returns that came after a wrap in the same line: each leaves a stale row on screen."""
    rows, col, line, wrapped, stale = [[[], 0]], 0, 0, False, 0
    text = raw.decode()
    i = 0
    while i < len(text):
        c = text[i]
        if text.startswith("\x1b[K", i):
            del rows[-1][0][col:]
            i += 3
            continue
        assert c != "\x1b", f"an escape sequence the model does not know: {text[i:i + 8]!r}"
        if c == "\r":
            stale += wrapped and not text.startswith("\n", i + 1)  # the terminal's own \r\n is no redraw
            col = 0
        elif c == "\n":
            line += 1
            rows.append([[], line])
            col, wrapped = 0, False
        else:
            if col == columns:
                rows.append([[], line])
                col, wrapped = 0, True
            row = rows[-1][0]
            row.extend(" " * (col - len(row)))
            row[col:col + 1] = [c]
            col += 1
        i += 1
    return [("".join(r), n) for r, n in rows], stale


def joined(rows):
    """Scrollback rows with continuation rows (indented by two spaces) joined back to their line: report
    lines break between fields (" | "), others between words."""
    lines = []
    for r in rows:
        if r.startswith("  ") and lines:
            lines[-1] += (" | " if lines[-1].startswith("step ") else " ") + r[2:]
        else:
            lines.append(r)
    return lines


def records(run):
    return [{k: v for k, v in json.loads(l).items() if k not in TIMES} for l in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def piped(train_setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("piped") / "run"
    r = subprocess.run(train_cmd(train_setup, out), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out, r.stdout


@pytest.mark.parametrize("columns", [80, 160])
def test_terminal_fits_the_width_and_keeps_report_lines(train_setup, tmp_path, piped, columns):
    out = tmp_path / "run"
    code, raw = run_in_terminal(train_cmd(train_setup, out), columns)
    assert code == 0, raw.decode(errors="replace")
    screen, stale = render(raw, columns)
    assert stale == 0, "the live bar wrapped: each redraw leaves a stale row"
    # every row vlmtune's progress writes stays off the last column; plain lines printed once (the data
    # loader's notes on stderr, the closing "done:" with its path) may wrap as any long line does
    mine = re.compile(r"^(lora |step |valid step |  \S)")
    rows = [t for t, _ in screen]
    too_wide = [t for t, n in screen if mine.match(next(u for u, m in screen if m == n)) and len(t) > columns - 1]
    assert not too_wide, too_wide
    bars = [b.decode() for b in re.findall(rb"\r\x1b\[K(\[[#.]+\][^\r\n]*)", raw)]
    assert all(len(b) <= columns - 1 for b in bars), bars
    assert b"\r\x1b[K[" in raw and b"%" in raw, "the live bar (\\r, clear, [###...]) was never drawn"
    assert bars and all(re.match(r"\[[#.]{10,40}\] +\d+% \d+/\d+ \| ETA \S+ \| loss [\d.]+", b) for b in bars), bars
    if columns == 160:  # room for every field
        assert all(" tok/s | peak " in b for b in bars), bars
    assert not any("[#" in r or "[." in r for r in rows), "a live bar was left in the scrollback"
    lines = joined(rows)
    reports = [int(m.group(1)) for m in (REPORT.match(l) for l in lines) if m]
    assert reports == list(range(EVERY, STEPS + 1, EVERY)), lines
    assert sum(l.startswith("valid step ") for l in lines) == STEPS // EVERY, lines
    assert records(out) == records(piped[0]), "metrics.jsonl differs between a terminal and a pipe"


def test_piped_output_is_one_line_per_report(piped):
    run, stdout = piped
    assert "\r" not in stdout and "\x1b" not in stdout
    lines = stdout.splitlines()
    assert [int(REPORT.match(l).group(1)) for l in lines if REPORT.match(l)] == list(range(EVERY, STEPS + 1, EVERY))
    logged = [r["step"] for r in records(run) if "loss" in r]
    assert logged == list(range(EVERY, STEPS + 1, EVERY)), "metrics.jsonl holds a record per report step"


def test_tokens_per_second_exclude_validation(train_setup, tmp_path):
    model, data = train_setup
    run = tmp_path / "run"
    cmd = train_cmd(train_setup, run, "--steps-per-report", "1", "--steps-per-eval", "1", "--batch-size", "1",
                    "--grad-accumulation-steps", "1")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in rows if "loss" in x]
    assert len(steps) == STEPS and sum("val_loss" in x for x in rows) == STEPS
    # tokens/s × the step's time = the step's tokens, a whole number, only if no validation time is counted
    tokens = [x["tokens_per_s"] * x["ms_per_step"] / 1000 for x in steps]
    assert all(abs(t - round(t)) < 1e-6 * t for t in tokens), tokens
    # the host's part of a step comes before its wait for the device: inside the step's time, never all of it
    assert all(0 < x["host_ms"] < x["ms_per_step"] for x in steps), steps
    enc = tmp_path / "enc.safetensors"
    subprocess.run([CLI, "encode", "--model", str(model), "--data", str(data / "train.jsonl"), "--out", str(enc)],
                   check=True, capture_output=True)
    import mlx.core as mx
    offsets = np.array(mx.load(str(enc))["token_offsets"])
    assert len(offsets) - 1 == STEPS  # one row per step: the four steps are one epoch
    assert sorted(round(t) for t in tokens) == sorted(np.diff(offsets).tolist())


def is_round(step):
    """1, 2 or 5 times a power of ten."""
    mantissa = step / 10 ** np.floor(np.log10(step))
    return any(abs(mantissa - m) < 1e-9 for m in (1, 2, 5))


def axis_map(labels, low, high):
    """Checks the tick labels of one axis against the data range [low, high] and returns the pixel position
    of a value as the labels place it: (value -> pixel)."""
    values, pixels = np.array([v for v, _ in labels]), np.array([p for _, p in labels])
    steps = np.diff(values)
    assert len(values) >= 3 and np.allclose(steps, steps[0]), values
    assert is_round(steps[0]), f"tick step {steps[0]} is not 1, 2 or 5 times a power of ten"
    assert values[0] <= low + 1e-9 and values[0] > low - steps[0], (values, low)
    assert values[-1] >= high - 1e-9 and values[-1] < high + steps[0], (values, high)
    slope, offset = np.polyfit(values, pixels, 1)
    assert np.allclose(values * slope + offset, pixels, atol=0.1), "tick labels are not where their values are"
    return lambda v: v * slope + offset


def test_loss_plot_ticks_series_and_legend(piped):
    import xml.etree.ElementTree as ET
    run, _ = piped
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    valid = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    svg = ET.parse(run / "loss.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    by_class = {}
    for t in svg.iter(ns + "text"):
        by_class.setdefault(t.get("class"), []).append(t)
    xs = [(float(t.text), float(t.get("x"))) for t in by_class["tick x"]]
    ys = [(float(t.text), float(t.get("y"))) for t in by_class["tick y"]]
    points = train + valid
    to_x = axis_map(sorted(xs), min(s for s, _ in points), max(s for s, _ in points))
    to_y = axis_map(sorted(ys), min(v for _, v in points), max(v for _, v in points))
    assert [t.text for t in by_class["axis-title x"]] == ["optimizer step"]
    assert by_class["axis-title y"][0].text.startswith("loss") and "rotate(-90" in by_class["axis-title y"][0].get("transform")

    lines = {p.get("class"): p for p in svg.iter(ns + "polyline")}
    drawn = [tuple(map(float, xy.split(","))) for xy in lines["train"].get("points").split()]
    assert np.allclose(drawn, [(to_x(s), to_y(v)) for s, v in train], atol=0.1)
    marks = [(float(c.get("cx")), float(c.get("cy"))) for c in svg.iter(ns + "circle") if c.get("class") == "valid-point"]
    assert np.allclose(marks, [(to_x(s), to_y(v)) for s, v in valid], atol=0.1)
    # without colour: training solid, validation dashed with markers; the legend shows each the same way
    assert lines["train"].get("stroke-dasharray") is None and lines["valid"].get("stroke-dasharray")
    legend = next(g for g in svg.iter(ns + "g") if g.get("class") == "legend")
    assert [t.text for t in legend.iter(ns + "text")] == ["training loss", "validation loss"]
    samples = {l.get("class"): l for l in legend.iter(ns + "line")}
    assert samples["train"].get("stroke-dasharray") is None
    assert samples["valid"].get("stroke-dasharray") == lines["valid"].get("stroke-dasharray")
    assert len(list(legend.iter(ns + "circle"))) == 1

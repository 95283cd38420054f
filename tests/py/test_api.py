"""The public C API (include/vlmtune.h) through its example program, examples/critique.c.

The example loads a model with an adapter through vlmtune_load and streams a greedy answer through
vlmtune_generate; the answer must be the CLI's (`vlmtune generate`, itself equal to mlx-vlm's greedy
output, test_generate.py) and errors must come back through vlmtune_last_error.
"""
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_generate import CLI, setup  # noqa: E402,F401

BUILD = Path(os.environ.get("VT_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
EXAMPLE = BUILD / "examples" / "critique"


def test_example_streams_the_cli_answer(setup):
    model, d = setup
    assert EXAMPLE.is_file(), f"{EXAMPLE} was not built"
    r = subprocess.run([str(EXAMPLE), str(model), str(d / "adapter"), str(d / "a.png"), "Critique this photo."],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cli = subprocess.run([CLI, "generate", "--model", str(model), "--adapter", str(d / "adapter"), "--image",
                          str(d / "a.png"), "--prompt", "Critique this photo.", "--max-tokens", "64"],
                         capture_output=True, text=True, check=True)
    text = r.stdout.rsplit("\n[", 1)[0]
    assert text == cli.stdout.rstrip("\n") and len(text) > 0
    assert r.stdout.rstrip().endswith(f"[{len(text.encode())} bytes]")


def test_example_reports_errors(setup, tmp_path):
    model, d = setup
    r = subprocess.run([str(EXAMPLE), str(tmp_path), "-", str(d / "a.png")], capture_output=True, text=True)
    assert r.returncode == 1 and "critique:" in r.stderr and str(tmp_path) in r.stderr
    r = subprocess.run([str(EXAMPLE), str(model), "-", str(d / "nope.png")], capture_output=True, text=True)
    assert r.returncode == 1 and "nope.png" in r.stderr

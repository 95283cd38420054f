"""Fixtures shared by the Python tests."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
TOKENIZER = ROOT / ".cache" / "qwen3-tokenizer"


@pytest.fixture(scope="session")
def train_setup(tmp_path_factory):
    """A tiny Qwen3-VL (mlx layout, and 4-bit) with the real tokenizer, and the demo's photo data:
    4 training rows, 2 validation rows of 64×64 photos.  Returns (model dir, data dir)."""
    d = tmp_path_factory.mktemp("train")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_fixture.py"), str(d / "fx"), "--vocab", "151936",
                    "--layouts", "mlx,q4"], check=True)
    model = d / "fx" / "mlx"
    assert (TOKENIZER / "tokenizer.json").is_file(), "the Qwen3 tokenizer is missing: run tools/setup.sh --test"
    for layout in ("mlx", "q4"):
        for f in TOKENIZER.iterdir():
            (d / "fx" / layout / f.name).write_bytes(f.read_bytes())
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_demo_data.py"), str(d / "data"), "--train", "4",
                    "--valid", "2", "--test", "0", "--size", "64"], check=True)
    return model, d / "data"

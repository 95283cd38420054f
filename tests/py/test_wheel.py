"""The wheel, end to end (slow: the ctest carries the label `slow`; `ctest -LE slow` leaves it out).

tools/wheel.sh builds the wheel (scikit-build-core, in the persistent CMake folder build-wheel/cmake, so a
second run recompiles only what changed) and repairs it with auditwheel.  A fresh virtual environment
without setuptools installs it from wheels alone (--no-index --only-binary: nothing can be compiled; MLX's
wheels are downloaded once into build-wheel/deps).  From there: the system C libraries resolve to the copies
inside the wheel and libmlx to the mlx package; `vlmtune version` runs, and a short training through the
`vlmtune` command and through the Python module gives the losses of the build's CLI.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_train import LR, WD, metrics, train as cli_train  # noqa: E402

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
WORK = ROOT / "build-wheel"
CLI = os.environ.get("VT_CLI", str(ROOT / "build" / "vlmtune"))
MLX = re.search(r"^mlx==(\S+)", (ROOT / "tools" / "requirements.txt").read_text(), re.M).group(1)
# Nothing of the source tree or the build may leak into the installed environment.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("VLMTUNE_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH")}


def sh(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=kw.pop("env", CLEAN_ENV), **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def mlx_wheels():
    """The pinned MLX wheels for this platform, downloaded once."""
    deps = WORK / "deps"
    if not list(deps.glob(f"mlx_cpu-{MLX}-*.whl")) or not list(deps.glob(f"mlx-{MLX}-*.whl")):
        sh(WORK / "tools" / "bin" / "python", "-m", "pip", "download", "-q", "--disable-pip-version-check",
           "--only-binary", ":all:", "-d", deps, f"mlx[cpu]=={MLX}")
    return deps


PY_TRAIN = """import json, sys, vlmtune
assert "{site}" in vlmtune.__file__, vlmtune.__file__
seen = []
vlmtune.train(model=sys.argv[1], data=sys.argv[2], out=sys.argv[3], iters=2, batch_size=2, learning_rate={lr},
              weight_decay={wd}, lr_schedule="constant", warmup_steps=0, max_grad_norm=0, steps_per_report=1, seed=3,
              on_progress=lambda p: seen.append(p.loss))
print(json.dumps(seen))
"""


def test_wheel_installs_and_trains_without_build_tools(train_setup, tmp_path):
    whl = Path(sh(ROOT / "tools" / "wheel.sh", tmp_path / "dist", env={**CLEAN_ENV, "JOBS": "2"}).split()[-1])
    assert re.fullmatch(r"vlmtune-0\.1\.0-py3-none-manylinux_2_\d+_x86_64\.whl", whl.name), whl.name

    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    sh(py, "-m", "pip", "uninstall", "-q", "-y", "setuptools", "wheel")
    sh(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index", "--only-binary", ":all:",
       "--find-links", mlx_wheels(), f"{whl}[cpu]")
    site = Path(sh(py, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])").strip())

    # the system libraries are the wheel's own copies; libmlx is the mlx package's
    ldd = sh("ldd", site / "vlmtune" / "lib" / "libvlmtune.so")
    assert "not found" not in ldd, ldd
    found = {l.split()[0]: Path(l.split()[2]).resolve() for l in ldd.splitlines() if " => /" in l}
    for lib in ("libcjson", "libpcre2-8", "libutf8proc", "libyaml", "libjpeg", "libwebp", "libcurl"):
        path = next(p for name, p in found.items() if name.startswith(lib + "-"))
        assert path.parent == site / "vlmtune.libs", (lib, path)
    assert found["libmlx.so"] == site / "mlx" / "lib" / "libmlx.so", ldd

    command = venv / "bin" / "vlmtune"
    assert sh(command, "version") == sh(CLI, "version")

    model, data = train_setup
    cli_train(model, data, tmp_path / "want", "--iters", "2", "--batch-size", "2")
    want = [m["loss"] for m in metrics(tmp_path / "want")]
    sh(command, "train", "--model", model, "--data", data / "train.jsonl", "--out", tmp_path / "run", "--iters", "2",
       "--batch-size", "2", "--learning-rate", LR, "--weight-decay", WD, "--lr-schedule", "constant",
       "--warmup-steps", "0", "--max-grad-norm", "0", "--steps-per-report", "1", "--seed", "3", cwd=tmp_path)
    got = [m["loss"] for m in metrics(tmp_path / "run")]
    assert len(want) == 2 and got == want, (got, want)
    from_python = json.loads(sh(py, "-c", PY_TRAIN.format(site=site, lr=LR, wd=WD), model, data / "train.jsonl",
                                tmp_path / "py", cwd=tmp_path))
    assert from_python == pytest.approx(want, rel=1e-14, abs=0)  # metrics.jsonl: 15 digits (test_pymodule.py)
    assert [m["loss"] for m in metrics(tmp_path / "py")] == want

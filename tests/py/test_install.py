"""`make install` (cmake --install) into a temporary prefix, used from outside the tree.

The installed libvlmtune.so exports exactly the functions include/vlmtune.h declares with VLMTUNE_API;
examples/critique.c builds against the prefix with `pkg-config --cflags --libs vlmtune` alone, and with
CMake's find_package(vlmtune) (shared, and the static library through COMPONENTS static); each build
streams the answer `vlmtune generate` gives and reports errors through vlmtune_last_error.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_generate import CLI, setup  # noqa: E402,F401

ROOT = Path(os.environ.get("VT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("VT_BUILD_DIR", ROOT / "build"))
PROMPT = "Critique this photo."


def sh(*cmd, **kw):
    """Runs a build step; a failure shows its output."""
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    p = tmp_path_factory.mktemp("prefix")
    sh("cmake", "--install", BUILD, "--prefix", p)
    return p


def shared_library(prefix):
    libs = [f for f in (prefix / "lib").iterdir() if re.fullmatch(r"libvlmtune\.so\.\d+\.\d+\.\d+", f.name)]
    assert len(libs) == 1, sorted(f.name for f in (prefix / "lib").iterdir())
    return libs[0]


def test_installed_layout(prefix):
    for f in ("include/vlmtune.h", "lib/libvlmtune.a", "lib/libvlmtune.so", "lib/pkgconfig/vlmtune.pc",
              "lib/cmake/vlmtune/vlmtuneConfig.cmake", "bin/vlmtune"):
        assert (prefix / f).exists(), f
    r = subprocess.run([str(prefix / "bin" / "vlmtune"), "version"], capture_output=True, text=True, check=True)
    mlx = re.search(r"^mlx==(\S+)", (ROOT / "tools" / "requirements.txt").read_text(), re.M).group(1)
    assert r.stdout.startswith(f"vlmtune 0.1.0 (MLX {mlx},"), r.stdout


def test_shared_library_exports_the_header_alone(prefix):
    header = (ROOT / "include" / "vlmtune.h").read_text()
    declared = set(re.findall(r"VLMTUNE_API\s[^;{]*?\b(vlmtune_\w+)\s*\(", header))
    assert "vlmtune_train" in declared and "vlmtune_cancel_new" in declared, declared
    nm = subprocess.run(["nm", "-D", "--defined-only", str(shared_library(prefix))], capture_output=True, text=True,
                        check=True)
    exported = {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}
    assert exported == declared, (exported - declared, declared - exported)


def run_example(exe, model, d):
    r = subprocess.run([str(exe), str(model), str(d / "adapter"), str(d / "a.png"), PROMPT], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    cli = subprocess.run([CLI, "generate", "--model", str(model), "--adapter", str(d / "adapter"), "--image",
                          str(d / "a.png"), "--prompt", PROMPT, "--max-tokens", "64"], capture_output=True, text=True,
                         check=True)
    text = r.stdout.rsplit("\n[", 1)[0]
    assert text == cli.stdout.rstrip("\n") and len(text) > 0
    bad = subprocess.run([str(exe), str(model), "-", str(d / "nope.png")], capture_output=True, text=True)
    assert bad.returncode == 1 and "critique:" in bad.stderr and "nope.png" in bad.stderr, bad.stderr


def test_example_builds_with_pkg_config_alone(prefix, setup, tmp_path):
    env = {**os.environ, "PKG_CONFIG_PATH": str(prefix / "lib" / "pkgconfig"), "PKG_CONFIG_LIBDIR": ""}
    flags = sh("pkg-config", "--cflags", "--libs", "vlmtune", env=env).split()
    exe = tmp_path / "critique"
    sh("cc", "-std=c17", "-Wall", "-Werror", ROOT / "examples" / "critique.c", *flags, "-o", exe)
    run_example(exe, *setup)


CMAKE_PROJECT = """cmake_minimum_required(VERSION 3.25)
project(critique C)
find_package(vlmtune 0.1 REQUIRED COMPONENTS static)
add_executable(critique critique.c)
target_link_libraries(critique PRIVATE vlmtune::vlmtune)
add_executable(critique_static critique.c)
target_link_libraries(critique_static PRIVATE vlmtune::vlmtune_static)
"""


def test_example_builds_with_find_package(prefix, setup, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "examples" / "critique.c", src)
    (src / "CMakeLists.txt").write_text(CMAKE_PROJECT)
    sh("cmake", "-S", src, "-B", tmp_path / "b", f"-DCMAKE_PREFIX_PATH={prefix}")
    sh("cmake", "--build", tmp_path / "b", "-j2")
    shared = sh("ldd", tmp_path / "b" / "critique")
    assert str(shared_library(prefix).parent) in shared, shared
    assert "libvlmtune" not in sh("ldd", tmp_path / "b" / "critique_static")
    for exe in ("critique", "critique_static"):
        run_example(tmp_path / "b" / exe, *setup)

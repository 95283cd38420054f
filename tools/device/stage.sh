#!/usr/bin/env bash
# Builds the ONE folder a device call carries for the GPU training benchmark (docs/CUDA.md):
#
#   tools/device/stage.sh [--out DIR] [--cache DIR] [--arch 90] [--with-tests]    (default DIR: .dev/gpu here)
#
# Into DIR (ignored by git; everything one device call carries must stay <= 64 MiB):
#   libmlx.so.xz          mlx-cuda-13 0.32.4's libmlx.so, symbols stripped, only the sm_ARCH cubins kept
#                         (tools/device/fatbin_keep.py; sm_90: H100/H200 only), xz -9e
#   mlx-0.32.4-*.whl      MLX's Python front end (cp312, the device's python3)
#   mlx_include.tar.xz    the CUDA wheel's headers (CCCL, CuTe, CUTLASS, MLX device code) for NVRTC
#   mlx_libs.tar.xz       the CUDA wheel's mlx_cuda_13.libs (LAPACK, BLAS, gfortran, quadmath)
#   mlx_vlm.tar.xz        mlx-vlm 0.7.10 from .venv, Python files only, Qwen3-VL the only model
#   vlmtune.tar.xz        bin/vlmtune (this checkout's build) + lib/ the Debian libraries it links and
#                         libvlmtune.so.0 + python/vlmtune (the Python module, for bench_generate.py --in-process)
#                         (+ bin/tests/: the binding's test programs test_mx_*, test_loss, test_optim, with
#                         --with-tests, for tools/device/run_binding_tests.sh)
#   tokenizer.tar.xz      the Qwen3 tokenizer (.cache/qwen3-tokenizer)
#   scripts/              bench/bench_{train_gpu,distributed,generate}.py, bench/decode_ops.py, tools/make_full_random.py, tools/quantize_mlx.py
#   gpu_run.sh            the device command (tools/device/gpu_run.sh)
#   MANIFEST.txt          sources, versions, sizes, sha256
# The device image already has torch, transformers, peft, numpy, pillow, safetensors, jinja2, tqdm,
# the NVIDIA cu13 libraries (cuBLAS, cuDNN, NCCL, NVRTC, cuFFT, cuSOLVER) and CUDA's headers.
# Downloads and the slow libmlx compression are kept in --cache (default .dev/cache, not carried).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$ROOT/.dev/gpu
CACHE=$ROOT/.dev/cache
ARCH=90
TESTS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --cache) CACHE=$2; shift 2 ;;
    --arch) ARCH=$2; shift 2 ;;
    --with-tests) TESTS=1; shift ;;
    *) echo "usage: $0 [--out DIR] [--cache DIR] [--arch 90] [--with-tests]" >&2; exit 2 ;;
  esac
done
MLX_VERSION=0.32.4
MLX_VLM_VERSION=0.7.10
LIMIT=$((64 * 1024 * 1024))
PY=$ROOT/.venv/bin/python
CLI=${VT_CLI:-$ROOT/build/vlmtune}
say() { printf '== %s\n' "$*" >&2; }

[ "$(uname -m)" = x86_64 ] || { echo "stage.sh: the device machine is x86-64; build here only on x86-64" >&2; exit 1; }
[ -x "$CLI" ] || { echo "stage.sh: no $CLI: run 'make compile' first" >&2; exit 1; }
for t in xz strip unzip ldd; do command -v $t >/dev/null || { echo "stage.sh: needs $t" >&2; exit 1; }; done
mkdir -p "$CACHE/wheels"
rm -rf "$OUT"
mkdir -p "$OUT/scripts/bench" "$OUT/scripts/tools"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

say "wheels (pip download, cached in $CACHE/wheels)"
if ! ls "$CACHE"/wheels/mlx_cuda_13-$MLX_VERSION-*.whl "$CACHE"/wheels/mlx-$MLX_VERSION-cp312-*.whl >/dev/null 2>&1; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    -d "$CACHE/wheels" mlx-cuda-13==$MLX_VERSION mlx==$MLX_VERSION
fi
CUDA_WHL=$(ls "$CACHE"/wheels/mlx_cuda_13-$MLX_VERSION-*.whl)
MLX_WHL=$(ls "$CACHE"/wheels/mlx-$MLX_VERSION-cp312-*.whl)
cp "$MLX_WHL" "$OUT/"

say "libmlx.so: strip, keep the sm_$ARCH cubins, xz -9e (cached by the wheel's sha256; ~1.5 min the first time)"
KEY=$(sha256sum "$CUDA_WHL" | cut -c1-16)-sm$ARCH
if [ ! -f "$CACHE/libmlx-$KEY.so.xz" ]; then
  unzip -q -o "$CUDA_WHL" 'mlx/lib/libmlx.so' -d "$T/cuda"
  strip --strip-unneeded -o "$T/libmlx.stripped.so" "$T/cuda/mlx/lib/libmlx.so"
  "$PY" "$ROOT/tools/device/fatbin_keep.py" "$T/libmlx.stripped.so" "$T/libmlx.so" --arch "$ARCH"
  xz -9e -T1 -c "$T/libmlx.so" > "$CACHE/libmlx-$KEY.so.xz.part"
  mv "$CACHE/libmlx-$KEY.so.xz.part" "$CACHE/libmlx-$KEY.so.xz"
fi
cp "$CACHE/libmlx-$KEY.so.xz" "$OUT/libmlx.so.xz"

say "the CUDA wheel's headers and helper libraries"
unzip -q -o "$CUDA_WHL" 'mlx/include/*' 'mlx_cuda_13.libs/*' -d "$T/cuda"
tar -C "$T/cuda/mlx" -cf - include | xz -9e -T2 > "$OUT/mlx_include.tar.xz"
tar -C "$T/cuda" -cf - mlx_cuda_13.libs | xz -9e -T2 > "$OUT/mlx_libs.tar.xz"

say "mlx-vlm $MLX_VLM_VERSION (Python files, Qwen3-VL only)"
SITE=$("$PY" -c 'import mlx_vlm, os; print(os.path.dirname(os.path.dirname(mlx_vlm.__file__)))')
V=$("$PY" -c 'import importlib.metadata as m; print(m.version("mlx-vlm"))')
[ "$V" = $MLX_VLM_VERSION ] || { echo "stage.sh: .venv has mlx-vlm $V, not $MLX_VLM_VERSION" >&2; exit 1; }
(cd "$SITE" && { find mlx_vlm -name '*.py' -not -path '*/models/*/*'; find mlx_vlm/models/qwen3_vl -name '*.py'; } \
  | sort > "$T/vlm.txt" && tar -cf - -T "$T/vlm.txt") | xz -9e -T2 > "$OUT/mlx_vlm.tar.xz"

say "vlmtune ($CLI) and the Debian libraries it links"
mkdir -p "$T/vt/bin" "$T/vt/lib"
cp "$CLI" "$T/vt/bin/vlmtune"
strip --strip-unneeded "$T/vt/bin/vlmtune"
PROFILE=$(dirname "$CLI")/bench/profile_step     # bench/profile_step.c: where a step's time and memory go
[ -x "$PROFILE" ] && strip --strip-unneeded -o "$T/vt/bin/profile_step" "$PROFILE"
# Everything ldd resolves except MLX (the CUDA build replaces it), its wheel's libraries and the C/C++ runtime.
ldd "$CLI" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
  case "$name" in
    libmlx.so|libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*|ld-linux*|libz.so.*|libpthread.so.*|libdl.so.*) continue ;;
  esac
  case "$path" in */site-packages/*) continue ;; esac
  cp -L "$path" "$T/vt/lib/$name"
done
ls "$T/vt/lib" | tr '\n' ' ' >&2; echo >&2
if [ $TESTS = 1 ]; then
  mkdir -p "$T/vt/bin/tests"
  for t in "$(dirname "$CLI")"/tests/test_mx_* "$(dirname "$CLI")"/tests/test_loss "$(dirname "$CLI")"/tests/test_optim; do
    [ -x "$t" ] && [ -f "$t" ] && strip --strip-unneeded -o "$T/vt/bin/tests/$(basename "$t")" "$t"
  done
  echo "test programs: $(ls "$T/vt/bin/tests" | wc -l)" >&2
fi
# the shared library and the Python module over it, for bench_generate.py --in-process
LIB=$(dirname "$CLI")/libvlmtune.so.0
[ -f "$LIB" ] && strip --strip-unneeded -o "$T/vt/lib/libvlmtune.so.0" "$LIB"
mkdir -p "$T/vt/python" && cp -r "$ROOT/python/vlmtune" "$T/vt/python/"
tar -C "$T/vt" -cf - bin lib python | xz -9e -T2 > "$OUT/vlmtune.tar.xz"

say "tokenizer"
tar -C "$ROOT/.cache" -cf - qwen3-tokenizer | xz -9e -T2 > "$OUT/tokenizer.tar.xz"

say "scripts"
cp "$ROOT/bench/bench_train_gpu.py" "$ROOT/bench/bench_distributed.py" "$ROOT/bench/bench_generate.py" \
  "$ROOT/bench/decode_ops.py" "$OUT/scripts/bench/"
cp "$ROOT/tools/make_full_random.py" "$ROOT/tools/quantize_mlx.py" "$OUT/scripts/tools/"
cp "$ROOT/tools/device/gpu_run.sh" "$OUT/gpu_run.sh"

{
  echo "staged $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "mlx-cuda-13 $MLX_VERSION: $(basename "$CUDA_WHL") sha256 $(sha256sum "$CUDA_WHL" | cut -d' ' -f1)"
  echo "mlx $MLX_VERSION: $(basename "$MLX_WHL")"
  echo "mlx-vlm $V; vlmtune: $("$CLI" version 2>/dev/null | head -1); cubins kept: sm_$ARCH; test programs: $TESTS"
  echo
  (cd "$OUT" && find . -type f ! -name MANIFEST.txt | sort | xargs sha256sum)
} > "$OUT/MANIFEST.txt"

TOTAL=$(du -sb "$OUT" | cut -f1)
TREE=$(git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 du -cb 2>/dev/null) | tail -1 | cut -f1)
(cd "$OUT" && du -b -a . | sort -k2 | awk '{printf "  %10d  %s\n", $1, $2}') >&2
awk -v o="$OUT" -v t="$TOTAL" -v r="$TREE" 'BEGIN { printf "staged folder %s: %d bytes (%.1f MiB); with the tracked files (%.1f MiB): %.1f of 64 MiB\n", o, t, t / 1048576, r / 1048576, (t + r) / 1048576 }' >&2
[ $((TOTAL + TREE)) -le $LIMIT ] || { echo "stage.sh: over the 64 MiB a device call may carry" >&2; exit 1; }

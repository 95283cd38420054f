#!/usr/bin/env bash
# The device command of the GPU training benchmark (docs/CUDA.md).  tools/device/stage.sh copies this file
# to the staged folder; ONE device call, carrying that folder, runs
#
#   bash .dev/gpu/gpu_run.sh [--phases install,check,model,q4,bench] [--limit S] [BENCH ARGS...]
#
# and finds in $OUT: bench.md (the table), bench.json (every figure), run.log (everything printed).
# Phases, in order (each one skips what is already there, so a second call on a still-warm machine resumes):
#   install   ~15 s   libmlx (CUDA, sm_90), MLX's Python front end, headers, mlx-vlm, vlmtune -> /tmp/vt
#   check     ~30 s   nvidia-smi; `vlmtune smoke` (one gradient step on the GPU: NVRTC's first compiles);
#                     a bf16 matmul through Python MLX.  A failure here stops the run (nothing else can work)
#   model     ~1 min  tools/make_full_random.py --torch (drawn on the GPU) -> $VT_MODEL_DIR (/root/full4b,
#                     8.9 GB) + the tokenizer + the rope keys mlx-vlm reads
#   q4        ~1 min  tools/quantize_mlx.py -> $VT_MODEL_DIR-q4 (4-bit, group 64; language model only)
#   profile   ~40 s a run  bench/profile_step on the 4B model (not in the default phases): PROFILE_RUNS, e.g.
#                     "--batch=1,--compile --batch=4 @q4,--batch=1,--step-only" -> $OUT/profile.md
#                     (BENCH_SECONDS caps it, leaving time for the phases after it)
#   dist      ~1 min  bench/bench_distributed.py: one process, plain and on the data-parallel path (a group of
#                     one), batch 4 of the bench rows -> $OUT/dist.md (DIST_STEPS, DIST_REPEATS)
#   ops       ~1 min  bench/decode_ops.py: one operation's cost and a decode loop with and without LoRA, Python
#                     MLX on random arrays of the 4B shapes -> $OUT/decode_ops.md
#   generate  ~2 min  bench/bench_generate.py on the 4B model with an adapter trained 2 steps -> $OUT/generate.md
#                     (GEN_TOKENS, GEN_RUNS)
#   bench     the rest  bench/bench_train_gpu.py --time-budget <seconds left of --limit>: configurations that
#                     would start too late are recorded as skipped, and bench.json / bench.md are rewritten
#                     after every configuration, so a cut-off run still returns what it measured
# --limit S: the seconds this command may take in all (default 580: the device's 600 s per command, less the
# copy of $OUT).  BENCH ARGS go to bench_train_gpu.py: --quick, --only REGEX, --skip REGEX, --trainers LIST,
# --batches LIST, --resume-json FILE (keep an earlier call's measured rows), --steps N, --timeout S,
# --first-q4-extra S ...
set -uo pipefail
T0=$(date +%s)
D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)         # the staged folder
V=${VT_ROOT:-/tmp/vt}
S=$V/site
M=${VT_MODEL_DIR:-/root/full4b}
PHASES=install,check,model,q4,bench
LIMIT=580
BENCH=()
while [ $# -gt 0 ]; do
  case "$1" in
    --phases) PHASES=$2; shift 2 ;;
    --limit) LIMIT=$2; shift 2 ;;
    *) BENCH+=("$1"); shift ;;
  esac
done
OUT=${OUT:-$V/out}
mkdir -p "$OUT" "$V"
exec > >(tee -a "$OUT/run.log") 2>&1
trap 'exec >&- 2>&-; wait' EXIT      # let tee finish writing run.log before the command returns
export PYTHONUNBUFFERED=1
has() { case ",$PHASES," in *",$1,"*) return 0 ;; esac; return 1; }
phase() { echo "== $1 (at $(($(date +%s) - T0)) s)"; }
die() { echo "gpu_run.sh: $*"; exit 1; }
unxz() { if command -v xz >/dev/null; then xz -dc "$1"; else
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }

export PYTHONPATH=$S${PYTHONPATH:+:$PYTHONPATH}
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}

if has install && [ ! -f "$V/.installed" ]; then
  phase install
  [ -f "$D/libmlx.so.xz" ] || die "$D holds no staged files: run tools/device/stage.sh here and carry .dev/gpu"
  rm -rf "${S:?}" "${V:?}/bin" "${V:?}/lib"
  mkdir -p "$S"
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$S" "$D"/mlx-*.whl || die "pip install mlx"
  [ -d "$S/mlx/core" ] || ls "$S"/mlx/core*.so >/dev/null || die "pip did not install mlx into $S"
  mkdir -p "$S/mlx/lib"
  unxz "$D/libmlx.so.xz" > "$S/mlx/lib/libmlx.so" || die "libmlx.so"
  unxz "$D/mlx_libs.tar.xz" | tar -xf - -C "$S"
  unxz "$D/mlx_include.tar.xz" | tar -xf - -C "$S/mlx"     # NVRTC compiles against these
  unxz "$D/mlx_vlm.tar.xz" | tar -xf - -C "$S"
  unxz "$D/vlmtune.tar.xz" | tar -xf - -C "$V"
  unxz "$D/tokenizer.tar.xz" | tar -xf - -C "$V"
  # libmlx finds NVIDIA's cu13 libraries through its RPATH ($ORIGIN/../../nvidia/...): the image's own.
  SP=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  ln -sfn "$SP/nvidia" "$S/nvidia"
  for b in vlmtune profile_step; do   # each program finds the CUDA libmlx and the Debian libraries it links
    [ -f "$V/bin/$b" ] || continue
    mv "$V/bin/$b" "$V/bin/$b.bin"
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/mlx/lib:%s/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s/bin/%s.bin "$@"\n' \
      "$S" "$V" "$V" "$b" > "$V/bin/$b"
    chmod +x "$V/bin/$b"
  done
  touch "$V/.installed"
  du -sh "$S" "$V/bin" "$V/lib" | tr '\n' ' '; echo
fi
CLI=$V/bin/vlmtune

if has check; then
  phase check
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  "$CLI" version || die "vlmtune does not start (missing library?): ldd $V/bin/vlmtune.bin"
  "$CLI" smoke || die "vlmtune smoke failed on the GPU"
  python3 -c 'import mlx.core as mx; a = mx.ones((512, 512), dtype=mx.bfloat16); print("python mlx", mx.__version__, mx.default_device(), (a @ a)[0, 0].item())' \
    || die "MLX's Python front end does not run on the GPU"
fi

if has model; then
  phase "model -> $M"
  if [ ! -f "$M/config.json" ]; then
    rm -rf "$M"
    python3 "$D/scripts/tools/make_full_random.py" "$M" --torch || die "make_full_random.py"
  fi
  cp "$V"/qwen3-tokenizer/* "$M/"
  # mlx-vlm 0.7.10 reads rope_theta / rope_scaling beside transformers-5's rope_parameters.
  python3 -c "import json; p='$M/config.json'; c=json.load(open(p)); t=c['text_config']; r=t.get('rope_parameters', {}); t.setdefault('rope_theta', r.get('rope_theta', 5e6)); t.setdefault('rope_scaling', r); json.dump(c, open(p, 'w'), indent=1)"
  du -sh "$M"
fi

if has q4; then
  phase "q4 -> $M-q4"
  [ -f "$M/config.json" ] || die "no $M: run the model phase"
  if [ ! -f "$M-q4/config.json" ]; then
    rm -rf "$M-q4"
    python3 "$D/scripts/tools/quantize_mlx.py" "$M" "$M-q4" --bits 4 --group-size 64 || echo "quantize_mlx.py failed: no QLoRA rows"
  fi
  [ -d "$M-q4" ] && du -sh "$M-q4"
fi

if has profile; then
  phase profile
  [ -f "$M/config.json" ] || die "no $M: run the model phase"
  python3 "$D/scripts/bench/bench_train_gpu.py" --model "$M" --cli "$CLI" --work "$V/work" --rows-only || die "rows"
  # A run is comma-separated: profile_step's flags (--batch=4), @NAME=VALUE for its environment
  # (@MLX_MAX_MB_PER_BUFFER=1000), and @q4 for the 4-bit model; each under PROFILE_TIMEOUT seconds (300).
  for args in ${PROFILE_RUNS:-"--batch=1,--compile" "--batch=1" "--batch=1,--checkpoint,--compile" "--batch=4,--compile" "--batch=4" "--batch=4,--checkpoint,--compile"}; do
    [ $(( $(date +%s) - T0 )) -lt $((LIMIT - 60)) ] || { echo "profile: time is up before $args"; break; }
    envs=() flags=() model=$M
    for a in $(echo "$args" | tr ',' ' '); do
      case "$a" in @q4) model=$M-q4 ;; @*) envs+=("${a#@}") ;; *) flags+=($(echo "$a" | tr '=' ' ')) ;; esac
    done
    echo "profile run: ${envs[*]} $model ${flags[*]}" | tee -a "$OUT/profile.md"
    timeout ${PROFILE_TIMEOUT:-300} env "${envs[@]}" "$V/bin/profile_step" --model "$model" --data "$V/work/rows/train.jsonl" --image-pixels 200704 \
      --repeat 5 "${flags[@]}" 2>&1 | tee -a "$OUT/profile.md"
    echo | tee -a "$OUT/profile.md"
  done
fi

if has bench; then
  phase bench
  [ -f "$M/config.json" ] || die "no $M: run the model phase"
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  case "$gpu" in *NVL*) peak=835 ;; *PCIe*) peak=756 ;; *) peak=989 ;; esac  # dense bf16 TFLOP/s; SXM H100/H200: 989
  Q4=()
  [ -f "$M-q4/config.json" ] && Q4=(--q4-model "$M-q4")
  left=$((LIMIT - ($(date +%s) - T0) - 5))
  [ -n "${BENCH_SECONDS:-}" ] && [ "$BENCH_SECONDS" -lt "$left" ] && left=$BENCH_SECONDS   # leave time for later phases
  python3 "$D/scripts/bench/bench_train_gpu.py" --model "$M" "${Q4[@]}" --cli "$CLI" --device gpu --peak-tflops $peak \
    --work "$V/work" --json "$OUT/bench.json" --md "$OUT/bench.md" --time-budget $left "${BENCH[@]}"
fi
if has dist; then
  phase dist
  [ -f "$M/config.json" ] || die "no $M: run the model phase"
  python3 "$D/scripts/bench/bench_train_gpu.py" --model "$M" --cli "$CLI" --work "$V/work" --rows-only || die "rows"
  side=${VT_IMAGE_SIDE:-448}
  VT_CLI=$CLI python3 "$D/scripts/bench/bench_distributed.py" --model "$M" --data "$V/work/rows/train.jsonl" \
    --modes 1,1dist --steps ${DIST_STEPS:-10} --repeats ${DIST_REPEATS:-3} --batch-size 4 --accumulation 1 -- \
    --image-min-pixels $((side * side)) --image-max-pixels $((side * side)) --max-seq-length 2048 \
    2>&1 | tee "$OUT/dist.md"
fi

if has ops; then
  phase ops
  python3 "$D/scripts/bench/decode_ops.py" --tokens ${OPS_TOKENS:-64} --runs ${OPS_RUNS:-5} 2>&1 | tee "$OUT/decode_ops.md"
fi

if has generate; then
  phase generate
  [ -f "$M/config.json" ] || die "no $M: run the model phase"
  python3 "$D/scripts/bench/bench_train_gpu.py" --model "$M" --cli "$CLI" --work "$V/work" --rows-only || die "rows"
  A=$V/work/gen-adapter
  if [ ! -f "$A/adapters.safetensors" ]; then   # an adapter trained two steps on the bench rows
    rm -rf "$A"
    "$CLI" train --model "$M" --data "$V/work/rows/train.jsonl" --out "$A" --iters 2 --batch-size 1 \
      --image-min-pixels 200704 --image-max-pixels 200704 --max-seq-length 2048 --save-every 1000 >/dev/null || die "adapter"
  fi
  INPROC=()   # the Python module in one process too, when the staged folder carries the library
  [ -f "$V/lib/libvlmtune.so.0" ] && INPROC=(--in-process)
  VT_CLI=$CLI VLMTUNE_LIBRARY=$V/lib/libvlmtune.so.0 PYTHONPATH=$V/python:$PYTHONPATH \
    LD_LIBRARY_PATH=$S/mlx/lib:$V/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
    python3 "$D/scripts/bench/bench_generate.py" --model "$M" --adapter "$A" --tokens ${GEN_TOKENS:-128} \
    --runs ${GEN_RUNS:-3} "${INPROC[@]}" 2>&1 | tee "$OUT/generate.md"
fi

phase "done"

#!/usr/bin/env bash
# Device run (after stage_part1.sh): bench/bench_train.py on the GPU, vlmtune (the CPU machine's build,
# with mlx-cuda-13's libmlx swapped in) beside mlx-vlm 0.7.10's own SFT step.
#   VT_DEV_DIR=.dev/p3 tools/device/bench_train_gpu.sh tiny|full
# tiny: the test-sized model with Qwen's vocabulary; full: the 4B-shaped random checkpoint
# (tools/make_full_random.py, written once to /root/full4b).
set -u
export VT_DEV_DIR=${VT_DEV_DIR:-.dev/p3}
source tools/device/install_mlx_cuda.sh
tar xJf $VT_DEV_DIR/mlx_vlm.tar.xz -C /tmp/site
mkdir -p .cache && tar xJf $VT_DEV_DIR/tokenizer.tar.xz -C .cache
export LD_LIBRARY_PATH=$PWD/$VT_DEV_DIR/deps:$LD_LIBRARY_PATH
export VT_CLI=$PWD/$VT_DEV_DIR/bin/vlmtune
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "$gpu"; $VT_CLI version
case "$gpu" in *H100*SXM*|*H100\ 80GB\ HBM3*) peak=989 ;; *H100*PCIe*) peak=756 ;; *H200*) peak=989 ;; *) peak=989 ;; esac
case "${1:-tiny}" in
tiny)
  [ -d /root/tiny/mlx ] || { python3 tools/make_fixture.py /root/tiny --vocab 151936 --layouts mlx && cp .cache/qwen3-tokenizer/* /root/tiny/mlx/; }
  python3 bench/bench_train.py --model /root/tiny/mlx --rows 4 --steps 12 --runs 3 --peak-tflops $peak ;;
full)
  [ -f /root/full4b/config.json ] || { time python3 tools/make_full_random.py /root/full4b && cp .cache/qwen3-tokenizer/* /root/full4b/; }
  # mlx-vlm 0.7.10 reads rope_theta / rope_scaling only (the transformers-5 config has rope_parameters)
  python3 -c "import json; p='/root/full4b/config.json'; c=json.load(open(p)); t=c['text_config']; r=t.get('rope_parameters', {}); t.setdefault('rope_theta', r.get('rope_theta', 5e6)); t.setdefault('rope_scaling', r); json.dump(c, open(p, 'w'))"
  python3 bench/bench_train.py --model /root/full4b --rows 2 --steps 8 --runs 2 --peak-tflops $peak ;;
esac

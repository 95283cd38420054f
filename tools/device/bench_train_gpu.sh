#!/usr/bin/env bash
# Device run (after stage_part1.sh): bench/bench_train.py on the GPU, vlmtune (the CPU machine's build,
# with mlx-cuda-13's libmlx swapped in) beside mlx-vlm 0.7.10's own SFT step.
#   VT_DEV_DIR=.dev/p3 tools/device/bench_train_gpu.sh tiny|full
# tiny: the test-sized model with Qwen's vocabulary; full: the 4B-shaped random checkpoint that
# tools/device/make_full4b.sh writes to /root/full4b first.
set -u
export VT_DEV_DIR=${VT_DEV_DIR:-.dev/p3}
source tools/device/install_mlx_cuda.sh
tar xJf $VT_DEV_DIR/mlx_vlm.tar.xz -C /tmp/site
mkdir -p .cache && tar xJf $VT_DEV_DIR/tokenizer.tar.xz -C .cache
export LD_LIBRARY_PATH=$PWD/$VT_DEV_DIR/deps:$LD_LIBRARY_PATH
export VT_CLI=$PWD/$VT_DEV_DIR/bin/vlmtune
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "$gpu"; $VT_CLI version
case "$gpu" in *PCIe*) peak=756 ;; *) peak=989 ;; esac   # dense bf16 TFLOP/s: H100 SXM / H200 989, PCIe 756
case "${1:-tiny}" in
tiny)
  [ -d /root/tiny/mlx ] || { python3 tools/make_fixture.py /root/tiny --vocab 151936 --layouts mlx && cp .cache/qwen3-tokenizer/* /root/tiny/mlx/; }
  python3 bench/bench_train.py --model /root/tiny/mlx --rows 4 --steps 12 --runs 3 --device gpu --peak-tflops $peak ;;
full)
  for side in 256 768; do
    python3 bench/bench_train.py --model /root/full4b --rows 2 --steps 8 --runs 2 --device gpu --peak-tflops $peak --image-size $side
  done ;;
esac

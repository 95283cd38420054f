#!/usr/bin/env bash
# Device run, step 1 of 2: the mlx-cuda-13 wheel is larger than one run may carry,
# so its library travels xz-compressed in two halves; this keeps the first half.
set -euo pipefail
mkdir -p /root/mlx-stage
cp .dev/p1/part00 /root/mlx-stage/
ls -la /root/mlx-stage

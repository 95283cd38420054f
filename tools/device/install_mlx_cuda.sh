#!/usr/bin/env bash
# Device run, step 2 of 2 (source it): reassemble libmlx.so (mlx-cuda-13 0.32.4) next to the
# MLX Python front end in /tmp/site, point its RPATH neighbours at the machine's own NVIDIA
# cu13 pip libraries, and export LD_LIBRARY_PATH so vlmtune's binaries use the CUDA build.
set -euo pipefail
P=${VT_DEV_DIR:-.dev/p2}   # the carried folder: wheel, part01, libs, include
SP=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site $P/mlx-0.32.4-*.whl
mkdir -p /tmp/site/mlx/lib
cat /root/mlx-stage/part00 $P/part01 | xz -d > /tmp/site/mlx/lib/libmlx.so
tar xJf $P/libs.tar.xz -C /tmp/site
# The CUDA JIT (NVRTC) compiles kernels against the headers the wheel ships (CCCL, CuTe, MLX).
tar xJf $P/include.tar.xz -C /tmp/site/mlx
ln -sfn "$SP/nvidia" /tmp/site/nvidia
export PYTHONPATH=/tmp/site
export LD_LIBRARY_PATH=/tmp/site/mlx/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
set +euo pipefail

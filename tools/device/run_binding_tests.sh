#!/usr/bin/env bash
# Device: the MLX binding's test programs (built here against mlx-cpu) on the GPU with mlx-cuda-13's libmlx.
# Stage with `tools/device/stage.sh --with-tests`, then one device call carrying .dev/gpu:
#   bash .dev/gpu/gpu_run.sh --phases install,check && bash tools/device/run_binding_tests.sh
# Prints one line per test program and a closing "N passed, M failed".
set -u
V=${VT_ROOT:-/tmp/vt}
[ -d "$V/bin/tests" ] || { echo "no test programs in $V/bin/tests: stage with tools/device/stage.sh --with-tests"; exit 1; }
export LD_LIBRARY_PATH=$V/site/mlx/lib:$V/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
pass=0; fail=0
for t in "$V"/bin/tests/test_*; do
  start=$(date +%s%N)
  if "$t" > /tmp/out.txt 2>&1; then pass=$((pass+1)); verdict=Passed; else fail=$((fail+1)); verdict=FAILED; fi
  printf '%-28s %s  %.2f s  %s\n' "$(basename "$t")" "$verdict" "$(( ($(date +%s%N) - start) / 1000000 ))e-3" "$(tail -1 /tmp/out.txt)"
  [ "$verdict" = FAILED ] && cat /tmp/out.txt
done
echo "$pass passed, $fail failed"

#!/usr/bin/env bash
# Runs the MLX binding's test programs (built on the CPU machine against mlx-cpu)
# on the device machine's GPU with the mlx-cuda-13 library.  Prints one line per
# test program and a closing "N passed, M failed".
set -u
source tools/device/install_mlx_cuda.sh
export LD_LIBRARY_PATH=$PWD/.dev/p2/deps:$LD_LIBRARY_PATH
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
.dev/p2/bin/vlmtune version
.dev/p2/bin/vlmtune smoke
pass=0; fail=0
for t in .dev/p2/bin/test_*; do
  start=$(date +%s%N)
  if "$t" > /tmp/out.txt 2>&1; then pass=$((pass+1)); verdict=Passed; else fail=$((fail+1)); verdict=FAILED; fi
  printf '%-28s %s  %.2f s  %s\n' "$(basename "$t")" "$verdict" "$(( ($(date +%s%N) - start) / 1000000 ))e-3" "$(tail -1 /tmp/out.txt)"
  [ "$verdict" = FAILED ] && cat /tmp/out.txt
done
echo "$pass passed, $fail failed"

#!/usr/bin/env bash
# Fuzzing of every parser of untrusted input (tests/fuzz/fuzz_<name>.c), in two steps:
#
#  1. libFuzzer + AddressSanitizer + UBSan: each target runs for SECONDS from its seeds
#     (tests/fuzz/seeds/<name>/, which also keep the inputs that once crashed or were slow) and the corpus
#     it grew in earlier runs (build-fuzz/corpus-<name>/).  An input that takes over 10 s fails the run
#     (-timeout); the speed (exec/s) is printed, with a warning under 1,000 inputs/s.
#  2. Valgrind (memcheck): the same targets, built without sanitizers and linked with a plain driver
#     (tests/fuzz/run_inputs.c), run every seed — and with --corpus the grown corpus too — so that a read of
#     uninitialised memory fails the run.  ASan does not see those, and MSan would need libjpeg, libwebp
#     and zlib built with it.  tokenizer_encode is left out of this step: loading the real tokenizer takes
#     minutes under Valgrind.
#
# Usage: tools/fuzz.sh [SECONDS] [--corpus]   (make test: 10 s a target, seeds only;
#                                               make fuzz: FUZZ_SECONDS a target, the corpus under Valgrind too)
#        FUZZ_TARGETS="image jsonl" tools/fuzz.sh 60     runs only those targets.
# The fuzzers link only the C files they exercise (no MLX).
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
seconds=${1:-20}
valgrind_corpus=0
[ "${2:-}" = --corpus ] && valgrind_corpus=1
out=build-fuzz
mkdir -p "$out"
C_SOURCES=(src/util/error.c src/util/fs.c src/util/utf8.c src/io/json.c src/text/tokenizer.c src/text/conversation.c
  src/data/forms.c src/data/media.c src/train/config.c src/train/config_peers.c src/train/schedule.c)
for f in src/vision/*.c; do [ -e "$f" ] && C_SOURCES+=("$f"); done
LIBS=$(pkg-config --libs libcjson libpcre2-8 libutf8proc libjpeg libwebp libwebpdemux zlib yaml-0.1 libcurl)
targets=()
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" ${name#fuzz_} "* ]]; then continue; fi
  targets+=("$name")
done

status=0
for name in "${targets[@]}"; do
  clang -std=gnu17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
    "tests/fuzz/$name.c" "${C_SOURCES[@]}" $LIBS -lm -o "$out/$name"
  seeds=tests/fuzz/seeds/${name#fuzz_}
  corpus=$out/corpus-${name#fuzz_}
  mkdir -p "$corpus"
  # The working corpus comes first, so the committed seeds are never written to.
  if "$out/$name" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 -artifact_prefix="$out/$name-" \
       "$corpus" "$seeds" > "$out/$name.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$name.log")
    echo "fuzz $name: ${runs:-?} runs in ${seconds}s (${rate:-?} inputs/s), no crash"
    # a warning, not a failure: the speed also depends on what else the machine is doing
    [ "${rate:-0}" -ge 1000 ] || echo "fuzz $name: SLOW: ${rate:-?} inputs/s, under the 1,000 a target should reach"
  else
    echo "fuzz $name: FAILED (see $out/$name.log)"; tail -30 "$out/$name.log"; status=1
  fi
done

if [ "$(uname)" != Linux ]; then
  echo "fuzz valgrind: not run (Valgrind runs on Linux only)"
  exit $status
fi
command -v valgrind >/dev/null || { echo "fuzz valgrind: FAILED: valgrind is not installed (tools/setup.sh --test installs it)"; exit 1; }
for name in "${targets[@]}"; do
  [ "$name" = fuzz_tokenizer_encode ] && continue
  cc -std=gnu17 -g -O1 -Isrc tests/fuzz/run_inputs.c "tests/fuzz/$name.c" "${C_SOURCES[@]}" $LIBS -lm \
    -o "$out/$name-plain"
  inputs=(tests/fuzz/seeds/${name#fuzz_}/*)
  [ $valgrind_corpus = 1 ] && inputs+=("$out/corpus-${name#fuzz_}"/*)
  inputs=("${inputs[@]}")
  # xargs keeps each command line short; any memcheck error makes valgrind exit 99, and xargs then 123
  if printf '%s\0' "${inputs[@]}" | xargs -0 -n 200 valgrind --quiet --error-exitcode=99 --track-origins=yes \
       "$out/$name-plain" > "$out/$name-valgrind.log" 2>&1; then
    echo "fuzz $name: ${#inputs[@]} inputs under Valgrind, no memory error"
  else
    echo "fuzz $name: Valgrind FAILED (see $out/$name-valgrind.log)"; tail -40 "$out/$name-valgrind.log"; status=1
  fi
done
exit $status

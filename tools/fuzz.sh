#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c with clang's libFuzzer + AddressSanitizer + UBSan and runs each
# for SECONDS (default 20).  The fuzzers link only the C files they exercise (no MLX).
# Usage: tools/fuzz.sh [SECONDS]     (make fuzz FUZZ_SECONDS=N; make test runs it briefly)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
out=build-fuzz
mkdir -p "$out"
C_SOURCES=(src/util/error.c src/util/fs.c src/util/utf8.c src/io/json.c src/text/tokenizer.c src/text/conversation.c
  src/data/forms.c src/data/media.c src/train/config.c src/train/config_peers.c src/train/schedule.c)
for f in src/vision/*.c; do [ -e "$f" ] && C_SOURCES+=("$f"); done
LIBS=$(pkg-config --libs libcjson libpcre2-8 libutf8proc libjpeg libpng libwebp libwebpdemux libexif yaml-0.1 libcurl)
status=0
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  clang -std=gnu17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc \
    "$src" "${C_SOURCES[@]}" $LIBS -lgif -lm -o "$out/$name"
  seeds=tests/fuzz/seeds/${name#fuzz_}
  corpus=$out/corpus-${name#fuzz_}
  mkdir -p "$corpus"
  # The working corpus comes first, so the committed seeds are never written to.
  if "$out/$name" -max_total_time="$seconds" -print_final_stats=0 -artifact_prefix="$out/$name-" \
       "$corpus" "$seeds" > "$out/$name.log" 2>&1; then
    echo "fuzz $name: $(grep -o 'Done [0-9]* runs' "$out/$name.log" | tail -1) in ${seconds}s, no crash"
  else
    echo "fuzz $name: FAILED (see $out/$name.log)"; tail -30 "$out/$name.log"; status=1
  fi
done
exit $status

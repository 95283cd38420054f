#!/usr/bin/env bash
# The CLI's workflows under AddressSanitizer + LeakSanitizer (make test-asan): prepare, train (vision
# adapters, packing, checkpointing, dropout, validation, then a resume; the data-parallel path), eval with answers, compare,
# generate with sampling, fuse, PEFT export, and three bad inputs.  Any ASan/LSan report fails the run;
# the figures themselves are checked by the Python tests against references.
set -euo pipefail
VT=${1:?usage: asan_cli.sh BUILD_ASAN_DIR/vlmtune}
PY=.venv/bin/python
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
$PY tools/make_fixture.py "$T/fx" --vocab 151936 --layouts mlx >/dev/null 2>&1
M=$T/fx/mlx
cp .cache/qwen3-tokenizer/* "$M/"
$PY tools/make_demo_data.py "$T/data" --train 6 --valid 2 --test 2
IMG="--image-min-pixels 3136 --image-max-pixels 16384"
run() { # name, expected status, command...
    local name=$1 want=$2; shift 2
    set +e; "$@" > "$T/$name.log" 2>&1; local got=$?; set -e
    if grep -q "Sanitizer" "$T/$name.log" || [ "$got" != "$want" ]; then
        echo "asan_cli: $name: exit $got (expected $want)"; tail -30 "$T/$name.log"; exit 1
    fi
    echo "asan_cli: $name ok"
}
run prepare 0 $VT prepare --model "$M" --data "$T/data/train.jsonl" $IMG
run prepare-folder 0 $VT prepare --model "$M" --data "$T/data" --cache-dir "$T/cache" $IMG
run train 0 $VT train --model "$M" --data "$T/data/train.jsonl" --valid "$T/data/valid.jsonl" --out "$T/run" \
    --iters 4 --batch-size 2 --grad-accumulation-steps 2 --steps-per-eval 2 --save-every 2 --train-vision \
    --grad-checkpoint --pack --max-seq-length 300 --dropout 0.1 $IMG
run resume 0 $VT train --resume "$T/run" --iters 6
# the data-parallel step in a group of one (shares, flat all-reduce vector, sharded validation, vision features
# of the needed rows only): VLMTUNE_DIST_ALWAYS forces it, the 2-process runs are tests/py/test_distributed.py
run dist-path 0 env VLMTUNE_DIST_ALWAYS=1 $VT train --model "$M" --data "$T/data/train.jsonl" \
    --valid "$T/data/valid.jsonl" --out "$T/run-dist" --iters 2 --batch-size 2 --grad-accumulation-steps 2 \
    --steps-per-eval 2 $IMG
run eval 0 $VT eval --model "$M" --adapter "$T/run" --data "$T/data/test.jsonl" --generate --per-sample --max-tokens 8 $IMG
grep '^{' "$T/eval.log" > "$T/a.jsonl"
run compare 0 $VT compare "$T/a.jsonl" "$T/a.jsonl" --out "$T/report.md"
run compare-html 0 $VT compare "$T/a.jsonl" "$T/a.jsonl" --out "$T/report.html"
run generate 0 $VT generate --model "$M" --adapter "$T/run" --image "$T/data/images/00000.png" --prompt hi \
    --max-tokens 6 --temp 0.7 --top-p 0.9 --top-k 50 --repetition-penalty 1.1 $IMG
run fuse 0 $VT fuse --model "$M" --adapter "$T/run" --out "$T/fused" --format hf
run fuse-again 0 $VT fuse --model "$M" --adapter "$T/run" --out "$T/fused/" --format hf
run fuse-over-input 1 $VT fuse --model "$M" --adapter "$T/run" --out "$M/"
printf 'x' | dd of="$T/run/checkpoints/step-0000006/optimizer.safetensors" bs=1 seek=200 conv=notrunc 2>/dev/null
run resume-damaged 0 $VT train --resume "$T/run" --iters 7
run peft 0 $VT convert-adapter --model "$M" --adapter "$T/run" --out "$T/peft" --format peft
run peft-back 1 $VT forward --model "$M" --adapter "$T/peft" --inputs "$T/missing.safetensors" --out "$T/x"
printf '{"image": "nope.png", "prompt": "a", "response": "b"}\nbad\n' > "$T/bad.jsonl"
run bad-data 1 $VT train --model "$M" --data "$T/bad.jsonl" --out "$T/run2" --iters 1
$PY -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c['lora_parameters']['rank']=3; json.dump(c,open(p,'w'))" \
    "$T/run/adapter_config.json"
run bad-adapter 1 $VT eval --model "$M" --adapter "$T/run" --data "$T/data/test.jsonl"
run bad-model 1 $VT generate --model "$T/data" --prompt hi

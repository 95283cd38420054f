#!/bin/sh
# make demo: fine-tune a tiny Qwen3-VL-shaped model on a synthetic photo-critique set and show that
# it learns what the photos show.  Everything is generated here (no download) and reused next time;
# the training run and the scores are new on every run.
set -e
cd "$(dirname "$0")/.."
PY=.venv/bin/python
VT=build/vlmtune
D=.cache/demo
# (re)made when missing, or when it predates the Qwen3-VL chat template (chat_template.json) that mlx-vlm needs
if [ ! -f $D/model/model.safetensors ] || [ ! -f $D/model/chat_template.json ]; then
    echo "== making the tiny model (Qwen3-VL architecture, random weights, the real Qwen tokenizer)"
    rm -rf $D/fixture && $PY tools/make_fixture.py $D/fixture --vocab 151936 --layouts mlx
    mkdir -p $D && rm -rf $D/model && mv $D/fixture/mlx $D/model && rm -rf $D/fixture
    cp .cache/qwen3-tokenizer/* $D/model/
fi
if [ ! -f $D/data/test_answers.jsonl ]; then
    echo "== making the photo-critique set (photos with known colour, placement and light)"
    $PY tools/make_demo_data.py $D/data --train 128 --valid 16 --test 48
fi
$VT info --model $D/model | sed -n 3,5p
echo "== training (tools/demo.yaml)"
rm -rf $D/run
$VT train --config tools/demo.yaml
echo "== answering the 48 held-out photos, base and fine-tuned"
IMG="--image-min-pixels 3136 --image-max-pixels 16384 --max-tokens 24"
$VT eval --model $D/model --data $D/data/test.jsonl --generate --per-sample $IMG > $D/base.jsonl
$VT eval --model $D/model --adapter $D/run --data $D/data/test.jsonl --generate --per-sample $IMG > $D/tuned.jsonl
head -c 300 $D/tuned.jsonl | head -1 | cut -c1-200
$VT compare $D/base.jsonl $D/tuned.jsonl --out $D/report.html --examples 8
$PY tools/demo_score.py $D/data/test_answers.jsonl $D/base.jsonl $D/tuned.jsonl
echo "adapters: $D/run (mlx-vlm format); loss plot: $D/run/loss.svg; side-by-side report: $D/report.html"
echo "mlx-vlm runs them too (at the run's image size): $PY -m mlx_vlm.generate --model $D/model --adapter-path $D/run \\"
echo "    --processor-kwargs '{\"min_pixels\": 3136, \"max_pixels\": 16384}' --image IMG --prompt TEXT"

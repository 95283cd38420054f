#!/usr/bin/env bash
# Device: the 4B-shaped random checkpoint once per machine, at /root/full4b, with a config both vlmtune and
# mlx-vlm 0.7.10 read (mlx-vlm wants rope_theta / rope_scaling beside transformers-5's rope_parameters).
set -eu
mkdir -p .cache && tar xJf ${VT_DEV_DIR:-.dev/p3}/tokenizer.tar.xz -C .cache
[ -f /root/full4b/config.json ] || { time python3 tools/make_full_random.py /root/full4b; cp .cache/qwen3-tokenizer/* /root/full4b/; }
python3 -c "import json; p='/root/full4b/config.json'; c=json.load(open(p)); t=c['text_config']; r=t.get('rope_parameters', {}); t.setdefault('rope_theta', r.get('rope_theta', 5e6)); t.setdefault('rope_scaling', r); json.dump(c, open(p, 'w'))"
du -sh /root/full4b

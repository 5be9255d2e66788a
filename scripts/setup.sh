#!/usr/bin/env bash
# Quick start, step 1: install the Debian packages mc needs, build mc, fetch the default model
# (SmolLM2-135M-Instruct) and run the main job on it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages "${MC_BUILD_PACKAGES[@]}"
say "building mc (release) in $MC_BUILD"
configure_and_build "$MC_BUILD" -DCMAKE_BUILD_TYPE=Release -DMC_WERROR=ON -DMC_TESTS=OFF
fetch_real_model
make_real_dataset

say "main job: mc model info $MC_MODEL_DIR"
"$MC_BUILD/mc" model info "$MC_MODEL_DIR"
say "main job: mc data prepare (WordNet instructions, tokenized with the model's chat template)"
"$MC_BUILD/mc" data prepare "$MC_DATA/train.jsonl" -o "$MC_DATA/train.prepared.jsonl" --model "$MC_MODEL_DIR" --force
say "done — the binary is $MC_BUILD/mc (try: $MC_BUILD/mc --help)"

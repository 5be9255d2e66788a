#!/usr/bin/env bash
# Quick start, step 1: install the Debian packages mc needs, build mc, fetch the default model
# (SmolLM2-135M-Instruct) and run the main job on it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages "${MC_BUILD_PACKAGES[@]}"
say "building mc (release) in $MC_BUILD"
configure_and_build "$MC_BUILD" -DCMAKE_BUILD_TYPE=Release -DMC_TESTS=OFF
fetch_real_model

say "main job: mc model info $MC_MODEL_DIR"
"$MC_BUILD/mc" model info "$MC_MODEL_DIR"
say "done — the binary is $MC_BUILD/mc (try: $MC_BUILD/mc --help)"

#!/usr/bin/env bash
# Quick start, step 1: install the Debian packages mc needs, build mc, fetch the default model
# (SmolLM2-135M-Instruct) and run the main job on it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages "${MC_BUILD_PACKAGES[@]}"
say "building mc (release) in $MC_BUILD"
configure_and_build "$MC_BUILD" -DCMAKE_BUILD_TYPE=Release -DMC_WERROR=ON -DMC_TESTS=OFF
fetch_real_model
make_real_dataset

say "model: $(basename "$MC_MODEL_DIR")"
"$MC_BUILD/mc" model info "$MC_MODEL_DIR"
# The main job: zero-configuration training on the WordNet instructions, then base vs adapter on the
# held-out split. The first MC_MAIN_TRAIN records keep it to minutes on 2 cores (MC_MAIN_TRAIN=all for
# the whole set).
n_train="${MC_MAIN_TRAIN:-300}"
if [ "$n_train" = all ]; then cp "$MC_DATA/train.jsonl" "$MC_DATA/main-train.jsonl"
else head -n "$n_train" "$MC_DATA/train.jsonl" > "$MC_DATA/main-train.jsonl"; fi
head -n 50 "$MC_DATA/held_out.jsonl" > "$MC_DATA/main-eval.jsonl"
say "main job: mc train run (every hyperparameter derived) on $(wc -l < "$MC_DATA/main-train.jsonl") records"
"$MC_BUILD/mc" train run -m "$MC_MODEL_DIR" -d "$MC_DATA/main-train.jsonl" --eval-data "$MC_DATA/main-eval.jsonl" \
  -o "$MC_ROOT/runs/wordnet-derived" --force || {
  code=$?
  [ "$code" -eq 4 ] || exit "$code"
  say "the pipeline gate failed (see above); the adapter was saved and marked failed"
}
say "main job: mc train evaluate, base vs adapter on the held-out split"
"$MC_BUILD/mc" train evaluate -m "$MC_MODEL_DIR" -a "$MC_ROOT/runs/wordnet-derived" -d "$MC_DATA/held_out.jsonl"
say "done — the adapter is in runs/wordnet-derived (report.html shows the run); the binary is $MC_BUILD/mc"

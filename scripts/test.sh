#!/usr/bin/env bash
# Quick start, step 2: install what the tests need, build, and run the whole suite:
#   1. release build: ctest labels unit, golden and real (real = the imported SmolLM2 model),
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build: the unit tests,
#   3. libFuzzer targets for the file parsers, MC_FUZZ_SECONDS each (default 30).
# Set MC_SKIP_ASAN=1 or MC_SKIP_FUZZ=1 to skip a stage while iterating locally.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages "${MC_BUILD_PACKAGES[@]}" "${MC_TEST_PACKAGES[@]}"

say "[1/3] release build + unit, golden and real tests"
configure_and_build "$MC_BUILD" -DCMAKE_BUILD_TYPE=Release -DMC_TESTS=ON -DMC_WERROR=ON
fetch_real_model
MC_REQUIRE_REAL=1 ctest --test-dir "$MC_BUILD" --output-on-failure -j "$MC_JOBS" -L 'unit|golden|real'
say "real dataset: WordNet instructions through mc data prepare with SmolLM2's chat template"
make_real_dataset
"$MC_BUILD/mc" data prepare "$MC_DATA/held_out.jsonl" -o "$(mktemp -d)/held_out.prepared.jsonl" --model "$MC_MODEL_DIR"

if [ "${MC_SKIP_ASAN:-0}" != 1 ]; then
  say "[2/3] ASan + UBSan build + unit tests"
  cmake -S "$MC_ROOT" -B "$MC_ROOT/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMC_SANITIZE=ON -DMC_TESTS=ON >/dev/null
  # only the unit-test binaries (and what they link): the sanitizer stage runs the unit label
  mapfile -t unit_targets < <(ninja -C "$MC_ROOT/build-asan" -t targets all | grep -o '^mc_unit_[a-z_]*' | sort -u)
  ninja -C "$MC_ROOT/build-asan" -j "$MC_JOBS" "${unit_targets[@]}"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$MC_ROOT/build-asan" --output-on-failure -j "$MC_JOBS" -L unit
fi

if [ "${MC_SKIP_FUZZ:-0}" != 1 ]; then
  say "[3/3] fuzzing the parsers (${MC_FUZZ_SECONDS:-30} s each)"
  CXX=clang++ cmake -S "$MC_ROOT" -B "$MC_ROOT/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMC_FUZZ=ON \
    -DMC_TESTS=OFF >/dev/null
  # only the fuzz targets (and the parsers they link), not the whole tool
  mapfile -t fuzz_targets < <(ninja -C "$MC_ROOT/build-fuzz" -t targets all | grep -o '^fuzz_[a-z_]*' | sort -u)
  ninja -C "$MC_ROOT/build-fuzz" -j "$MC_JOBS" "${fuzz_targets[@]}"
  for f in "$MC_ROOT"/build-fuzz/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name="$(basename "$f")"
    corpus="$MC_ROOT/fuzz/corpus/${name#fuzz_}"
    work="$(mktemp -d)"
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    say "fuzz: $name"
    "$f" -max_total_time="${MC_FUZZ_SECONDS:-30}" -print_final_stats=1 "$work" 2>&1 | tail -n 4
    rm -rf "$work"
  done
fi
say "all tests passed"

#!/bin/bash
# Forward-pass benchmark: mc engine vs PyTorch (transformers) on the same model and token ids, prefill and
# decode tokens/s on 1 and 2 threads. Both run in this one invocation so the ratio compares like with like.
#
#   bench/forward/run.sh [MODEL_DIR] [BUILD_DIR]
#     MODEL_DIR  HF directory (default models/SmolLM2-135M-Instruct, from `mc model import-gguf`)
#     BUILD_DIR  a CMake build directory where `ninja mc_model` has built the module libraries (default build)
# Env: PY (default /work/tools-venv/bin/python), T_LIST (default "128 512"), THREADS_LIST (default "1 2"),
#      REPS (default 5), K (decode steps, default 32), DTYPES (mc weight dtypes, default "f32 bf16"),
#      TORCH_DTYPES (default "float32 bfloat16").
# The bench binary is compiled here with g++ against the module libraries (it is not a CMake target yet).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-models/SmolLM2-135M-Instruct}
BUILD=${2:-build}
PY=${PY:-/work/tools-venv/bin/python}
T_LIST=${T_LIST:-"128 512"}
THREADS_LIST=${THREADS_LIST:-"1 2"}
REPS=${REPS:-5}
K=${K:-32}
DTYPES=${DTYPES:-"f32 bf16"}
TORCH_DTYPES=${TORCH_DTYPES:-"float32 bfloat16"}
BIN=$BUILD/forward_bench
L=$BUILD/src
g++ -std=c++20 -O2 -Wall -Wextra -I src bench/forward/forward_bench.cpp -o "$BIN" \
  "$L/libmc_model.a" "$L/libmc_io.a" "$L/libmc_kernels.a" "$L/libmc_tensor.a" "$L/libmc_core.a" \
  $(pkg-config --libs openblas) -ldnnl -fopenmp -lpcre2-8 -lutf8proc -lpthread
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus; model $MODEL"
for th in $THREADS_LIST; do
  for t in $T_LIST; do
    # OpenBLAS threads are set by the program; OMP/MKL env keeps torch's intra-op pool honest
    for dt in $DTYPES; do
      OPENBLAS_NUM_THREADS=$th "$BIN" "$MODEL" "$th" "$t" "$REPS" "$K" "$dt"
    done
    for tdt in $TORCH_DTYPES; do
      OMP_NUM_THREADS=$th "$PY" bench/forward/torch_forward_bench.py "$MODEL" "$th" "$t" "$REPS" "$K" "$tdt" 2>/dev/null
    done
  done
done

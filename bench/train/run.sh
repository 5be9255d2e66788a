#!/bin/bash
# Training-throughput benchmark (issue #5): mc train run-research vs PyTorch + PEFT on the same model, the same
# 512-token examples and the same shapes (batch 4, seq 512, LoRA r 8 / alpha 16 on q,k,v,o,gate,up,down, dropout 0,
# AdamW lr 2e-4, clip 1.0; fp32, and mc's bf16 weights/GEMMs), on 1 and 2 threads, all in one invocation so the ratios compare like with like.
#
#   bench/train/run.sh [MODEL_DIR]
# Env: K (timed steps, default 3; every run does K+1 steps, the first is the warm-up),
#      THREADS_LIST (default "1 2"), ATTN_LIST (PyTorch attention implementations, default "sdpa"; "sdpa eager"
#      runs both and the faster one is the reference), TORCH_GC=1 (also run PyTorch with gradient checkpointing),
#      MC_DTYPES (mc --dtype values, default "f32 bf16"), TORCH_AMP=1 (also run PyTorch under bf16 autocast),
#      REPS (default 1: repeat the whole set of runs for each thread count, interleaved, to spread other load),
#      PY (default /work/tools-venv/bin/python), MC (default build/mc), WORK (default /tmp/mc_bench_train).
# mc is not built here: MC is copied into WORK first so a parallel rebuild cannot swap the binary mid-run.
# Per-run JSON/logs and /usr/bin/time CPU figures land in WORK; summarize.py prints the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-models/SmolLM2-135M-Instruct}
K=${K:-3}
THREADS_LIST=${THREADS_LIST:-"1 2"}
ATTN_LIST=${ATTN_LIST:-sdpa}
TORCH_GC=${TORCH_GC:-0}
TORCH_AMP=${TORCH_AMP:-0}
MC_DTYPES=${MC_DTYPES:-"f32 bf16"}
REPS=${REPS:-1}
PY=${PY:-/work/tools-venv/bin/python}
MC=${MC:-build/mc}
WORK=${WORK:-/tmp/mc_bench_train}
STEPS=$((K + 1))
TARGETS=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj

mkdir -p "$WORK"
[ -x "$MC" ] || { echo "run.sh: $MC not found (build it first: this script does not build)" >&2; exit 1; }
cp "$MC" "$WORK/mc"
DATA=$WORK/train512.jsonl
"$PY" bench/train/make_data.py --model "$MODEL" --out "$DATA"
{
  echo "date $(date -u +%FT%TZ)"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cpus"
  echo "mc $MC sha256 $(sha256sum "$WORK/mc" | cut -c1-16), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "K $K, REPS $REPS, THREADS_LIST $THREADS_LIST, ATTN_LIST $ATTN_LIST, TORCH_GC $TORCH_GC"
  echo "load_before $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$WORK/meta.txt"
cat "$WORK/meta.txt"

timed() {  # timed NAME cmd... : stdout -> NAME.json, stderr -> NAME.log, CPU/wall -> NAME.time
  local name=$1; shift
  echo "== $name (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  /usr/bin/time -f '%U %S %e' -o "$WORK/$name.time" "$@" > "$WORK/$name.json" 2> "$WORK/$name.log"
}

for th in $THREADS_LIST; do
  export OMP_NUM_THREADS=$th MKL_NUM_THREADS=$th OPENBLAS_NUM_THREADS=$th
  for rep in $(seq 1 "$REPS"); do
    for attn in $ATTN_LIST; do
      timed "torch_${attn}_r${rep}_t$th" "$PY" bench/train/bench_peft.py --model "$MODEL" --data "$DATA" \
        --threads "$th" --steps "$K" --warmup 1 --attn "$attn"
    done
    if [ "$TORCH_GC" = 1 ]; then
      attn1=${ATTN_LIST%% *}
      timed "torch_${attn1}_gc_r${rep}_t$th" "$PY" bench/train/bench_peft.py --model "$MODEL" --data "$DATA" \
        --threads "$th" --steps "$K" --warmup 1 --attn "$attn1" --grad-ckpt
    fi
    if [ "$TORCH_AMP" = 1 ]; then
      attn1=${ATTN_LIST%% *}
      timed "torch_${attn1}_amp_r${rep}_t$th" "$PY" bench/train/bench_peft.py --model "$MODEL" --data "$DATA" \
        --threads "$th" --steps "$K" --warmup 1 --attn "$attn1" --amp-bf16
    fi
    for dt in $MC_DTYPES; do
      for gc in ckpt nockpt; do
        extra=(--gradient-checkpointing on); [ $gc = nockpt ] && extra=(--gradient-checkpointing off)
        timed "mc_${dt}_${gc}_r${rep}_t$th" "$WORK/mc" train run-research -m "$MODEL" -d "$DATA" \
          -o "$WORK/mc_${dt}_${gc}_r${rep}_t$th.out" --force --steps "$STEPS" --batch-size 4 --seq-length 512 \
          --targets "$TARGETS" --dropout 0 --threads "$th" --dtype "$dt" --json --quiet "${extra[@]}"
      done
    done
  done
done
echo "load_after $(cut -d' ' -f1-3 /proc/loadavg)" >> "$WORK/meta.txt"
"$PY" bench/train/summarize.py "$WORK"

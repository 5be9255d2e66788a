#!/usr/bin/env bash
# The zero-configuration `mc train run` against `mc train run-research` with PEFT's defaults on
# SmolLM2-135M-Instruct and the WordNet instruction data: same training records, same held-out records,
# same token budget (run-research gets as many steps of 4 examples as the derived run's tokens allow).
# Prints one JSON line per run and a summary; docs/training_comparison.md records the latest figures.
#   bench/derived_vs_research/run.sh [N_TRAIN] [N_EVAL] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
N_TRAIN="${1:-300}"; N_EVAL="${2:-50}"; THREADS="${3:-2}"
MC="${MC:-build/mc}"; MODEL=models/SmolLM2-135M-Instruct; WORK="$(mktemp -d)"
head -n "$N_TRAIN" data/wordnet/train.jsonl > "$WORK/train.jsonl"
head -n "$N_EVAL" data/wordnet/held_out.jsonl > "$WORK/eval.jsonl"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

t0=$(date +%s.%N)
"$MC" train run -m "$MODEL" -d "$WORK/train.jsonl" --eval-data "$WORK/eval.jsonl" -o "$WORK/derived" \
  --threads "$THREADS" --json > "$WORK/derived.json" || echo "derived exit code $? (4 = gate failed; adapter saved)"
t1=$(date +%s.%N)
tokens=$(python3 -c "import json;print(sum(json.loads(l).get('tokens',0) for l in open('$WORK/derived/metrics.jsonl') if '\"loss\"' in l))")
avg=$("$MC" tokenize -m "$MODEL" --count "$WORK/train.jsonl" --json | python3 -c "import json,sys;print(json.load(sys.stdin)['per_record']['mean'])")
steps=$(python3 -c "import math;print(max(1, math.ceil($tokens / (4 * $avg))))")
"$MC" train run-research -m "$MODEL" -d "$WORK/train.jsonl" --eval-data "$WORK/eval.jsonl" -o "$WORK/research" \
  --steps "$steps" --threads "$THREADS" --json --quiet > "$WORK/research.json"
t2=$(date +%s.%N)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK" "$t0" "$t1" "$t2" "$tokens" "$steps" <<'PY'
import json, sys
w, t0, t1, t2, tokens, steps = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5]), int(sys.argv[6])
d = json.load(open(f"{w}/derived.json")); r = json.load(open(f"{w}/research.json"))
print(json.dumps({"run": "derived", "held_out_loss_before": d["baseline_loss"], "held_out_loss_after": d["post_loss"],
                  "stop_reason": d["stop_reason"], "steps": d["steps"], "batch": d["resolved_batch_size"],
                  "train_tokens": tokens, "wall_seconds": round(t1 - t0, 1), "gate_passed": d["pipeline_gate_passed"],
                  "max_spectral_ratio": d["max_spectral_ratio"], "min_cka": d.get("min_cka")}))
print(json.dumps({"run": "research", "held_out_loss_before": r["base_eval_loss"], "held_out_loss_after": r["eval_loss"],
                  "stop_reason": r["stop_reason"], "steps": r["steps"], "batch": 4, "wall_seconds": round(t2 - t1, 1)}))
PY

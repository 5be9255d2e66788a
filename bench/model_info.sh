#!/usr/bin/env bash
# Benchmark: `mc model info` is lazy — it reads headers and small JSON files, never tensor data.
# Reports wall time (median of N runs) and peak resident memory for the imported SmolLM2 directory and
# for the GGUF, next to the size of the weights on disk. Usage: bench/model_info.sh [N=7]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mc="$root/build/mc"
n="${1:-7}"
for target in "$root/models/SmolLM2-135M-Instruct" "$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"; do
  times=()
  for _ in $(seq "$n"); do
    /usr/bin/time -f "%e %M" -o /tmp/mc_bench_time "$mc" model info "$target" >/dev/null
    times+=("$(cat /tmp/mc_bench_time)")
  done
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk -v n="$n" 'NR==int((n+1)/2){print $1}')
  rss=$(printf '%s\n' "${times[@]}" | sort -k2 -n | tail -1 | awk '{print $2}')
  size=$(du -sb "$target" | cut -f1)
  printf '%-45s median %ss over %d runs, peak RSS %s KiB, weights on disk %s MiB\n' \
    "$(basename "$target")" "$med" "$n" "$rss" "$((size / 1048576))"
done

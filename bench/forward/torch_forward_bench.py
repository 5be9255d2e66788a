#!/usr/bin/env python3
"""PyTorch peer for bench/forward/forward_bench.cpp: the same HF model directory loaded by transformers
(float32 or bfloat16, default sdpa attention), the same synthetic token ids id[i] = (1000 + 7919*i) mod V, the same
measurements (median and best repetition): prefill of T tokens with logits for the last position only (logits_to_keep=1), and K
single-token decode steps with transformers' KV cache feeding the argmax. Prints one JSON object.

Usage: /work/tools-venv/bin/python bench/forward/torch_forward_bench.py MODEL_DIR [THREADS=1] [T=128] [REPS=5] [K=32] [DTYPE=float32]
Versions: torch 2.15.0, transformers 5.23.0 (tools/requirements.txt).
"""
import json
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def main():
    d = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    T = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    K = int(sys.argv[5]) if len(sys.argv) > 5 else 32
    dtype = sys.argv[6] if len(sys.argv) > 6 else "float32"
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(d, dtype=getattr(torch, dtype))
    model.eval()
    load_s = time.perf_counter() - t0
    V = model.config.vocab_size
    ids = torch.tensor([[(1000 + 7919 * i) % V for i in range(T)]])
    prefill = []
    with torch.inference_mode():
        for r in range(reps + 1):
            a = time.perf_counter()
            model(ids, logits_to_keep=1, use_cache=False)
            if r > 0:
                prefill.append(time.perf_counter() - a)
        decode = []
        for _ in range(max(2, reps // 2)):
            out = model(ids, logits_to_keep=1, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            a = time.perf_counter()
            for _ in range(K):
                out = model(nxt, past_key_values=past, use_cache=True, logits_to_keep=1)
                past = out.past_key_values
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            decode.append((time.perf_counter() - a) / K)
    pm = statistics.median(prefill)
    print(json.dumps({"engine": f"torch {torch.__version__} / transformers {transformers.__version__}",
                      "dtype": dtype, "threads": threads, "prefill_tokens": T, "prefill_tok_s": round(T / pm, 1),
                      "prefill_tok_s_best": round(T / min(prefill), 1), "decode_tokens": K,
                      "decode_tok_s": round(1.0 / statistics.median(decode), 1),
                      "decode_tok_s_best": round(1.0 / min(decode), 1), "load_s": round(load_s, 2)}))


if __name__ == "__main__":
    main()

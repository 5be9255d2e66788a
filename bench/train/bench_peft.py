#!/usr/bin/env python3
"""PyTorch + PEFT LoRA training-step benchmark, the reference for `mc train run-research` (issue #5).

transformers AutoModelForCausalLM in float32 + peft LoRA (r 8, alpha 16, dropout 0) on q/k/v/o/gate/up/down;
examples = the first records of DATA tokenized with the model's tokenizer, truncated to SEQ tokens, batch BATCH,
labels = input_ids. One step = forward + loss.backward() + clip_grad_norm_(1.0) + AdamW step + zero_grad
(mc run-research clips at 1.0 by default and uses weight decay 0, so both are matched here).
WARMUP steps are run first and not timed; then STEPS steps are timed one by one. CPU time (time.process_time, all
threads) is recorded for every step including the warm-up, for a figure that does not depend on other load.

  bench_peft.py --model DIR --data FILE [--threads 1] [--steps 3] [--warmup 1] [--batch 4] [--seq 512]
                [--attn sdpa|eager] [--grad-ckpt]
Prints per-step times on stderr and one JSON line on stdout.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--amp-bf16", action="store_true",
                    help="torch.autocast('cpu', bfloat16): bf16 matmuls, fp32 weights/LoRA/optimizer (PyTorch's "
                         "counterpart of mc --dtype bf16)")
    ap.add_argument("--grad-ckpt", action="store_true")
    ap.add_argument("--lr", type=float, default=2e-4)
    a = ap.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peft import LoraConfig, get_peft_model

    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, attn_implementation=a.attn)
    model.config.use_cache = False
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets, lora_dropout=0.0,
                                             bias="none", task_type="CAUSAL_LM"))
    if a.grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)

    texts = []
    with open(a.data, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                texts.append(json.loads(line)["text"])
    n_steps = a.warmup + a.steps
    need = n_steps * a.batch
    texts = (texts * (need // len(texts) + 1))[:need]
    enc = tok(texts, truncation=True, max_length=a.seq, return_tensors="pt", padding=False)
    ids = enc["input_ids"]
    if ids.shape[1] != a.seq:
        sys.exit(f"bench_peft.py: examples are {ids.shape[1]} tokens, need {a.seq} (run make_data.py)")
    batches = [ids[i * a.batch:(i + 1) * a.batch].contiguous() for i in range(n_steps)]

    times, cpu = [], []
    for i, x in enumerate(batches):
        t0 = time.perf_counter()
        c0 = time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp_bf16):
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        cpu.append(time.process_time() - c0)
        warm = i < a.warmup
        if not warm:
            times.append(dt)
        print(f"step {i + 1}{' (warm-up)' if warm else ''}: {dt:.3f} s, loss {loss.item():.4f}, "
              f"{x.numel() / dt:.1f} tok/s, cpu {cpu[-1]:.3f} s", file=sys.stderr, flush=True)
    med = statistics.median(times)
    tokens = a.batch * a.seq
    print(json.dumps({
        "impl": "pytorch+peft", "torch": torch.__version__, "attn": a.attn, "gradient_checkpointing": a.grad_ckpt,
        "amp_bf16": a.amp_bf16,
        "threads": a.threads, "batch": a.batch, "seq": a.seq, "n_trainable_params": n_trainable,
        "timed_steps": len(times), "step_seconds": [round(t, 4) for t in times],
        "median_step_seconds": med, "tokens_per_second": tokens / med,
        # CPU time (all threads) of every step including the warm-up: a load-independent figure
        "step_cpu_seconds_all": [round(c, 4) for c in cpu],
        "tokens_per_cpu_second_all_steps": tokens * len(cpu) / sum(cpu),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes tests/data/sampling/processors.json: transformers' logits processors applied to random logits.

Pinned oracle: transformers==5.23.0, torch==2.15.0, numpy==2.4.6 (tools/requirements.txt).
Run from the repository root:
  /work/tools-venv/bin/python tools/gen_sampling_goldens.py

Each case is a float32 logit vector (V between 50 and 200, with tied values and -inf entries), a token
history (prompt + generated ids, with repeats) and sampling options. The expected scores come from
transformers' own processor classes in generate()'s order (GenerationMixin._get_logits_processor):
RepetitionPenaltyLogitsProcessor (when repetition_penalty != 1), then only when sampling
(temperature > 0): TemperatureLogitsWarper (when != 1), TopKLogitsWarper (top_k != 0), TopPLogitsWarper
(top_p < 1), MinPLogitsWarper (min_p set), all with min_tokens_to_keep=1. Greedy cases (temperature 0)
get the repetition penalty only, as generate(do_sample=False) does.

The order is itself checked against generate(): on the tiny llama fixture (tests/data/hf/llama),
model.generate(do_sample=True, output_logits=True, output_scores=True) must return as scores exactly
what this script's processor list makes of the raw logits at every step.

Cases near a decision boundary are rejected and redrawn, so the kept set does not hinge on float
rounding or on torch.sort's unstable tie order: the kept set must equal a float64 numpy computation
with a stable sort, and every top-p cumulative probability and min-p probability must be at least
1e-5 (relative) away from its threshold.

JSON: {"meta": {...versions}, "cases": [{"name", "logits": [float32 | null for -inf], "history": [ids],
"options": {temperature, top_k, top_p, min_p, repetition_penalty}, "expected": [float32 | null]}]}.
Numbers are the shortest decimal strings that round-trip to the float32 value.
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM
from transformers.generation.logits_process import (LogitsProcessorList, MinPLogitsWarper,
                                                    RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "data", "sampling", "processors.json")
FIXTURE = os.path.join(REPO, "tests", "data", "hf", "llama")
EXPECTED_VERSIONS = {"transformers": "5.23.0", "torch": "2.15.0", "numpy": "2.4.6"}
SEED = 20240611
MARGIN = 1e-5

# name, V, options (temperature, top_k, top_p, min_p, repetition_penalty)
CASES = [
    ("greedy_plain", 64, dict(temperature=0.0)),
    ("greedy_penalty", 97, dict(temperature=0.0, repetition_penalty=1.3)),
    ("greedy_reward", 80, dict(temperature=0.0, repetition_penalty=0.7)),
    ("temperature_only", 120, dict(temperature=0.7)),
    ("temperature_hot", 50, dict(temperature=1.8)),
    ("temperature_one", 60, dict(temperature=1.0)),
    ("top_k_1", 100, dict(temperature=1.0, top_k=1)),
    ("top_k_5_ties", 128, dict(temperature=1.0, top_k=5)),
    ("top_k_tie_at_kth", 128, dict(temperature=1.0, top_k=4)),  # the 4th largest value is tied: all copies stay
    ("top_k_40", 200, dict(temperature=0.8, top_k=40)),
    ("top_k_over_v", 50, dict(temperature=1.0, top_k=500)),
    ("top_k_over_finite", 70, dict(temperature=1.0, top_k=68)),
    ("top_p_09", 150, dict(temperature=1.0, top_p=0.9)),
    ("top_p_05_temp", 200, dict(temperature=0.6, top_p=0.5)),
    ("top_p_0", 64, dict(temperature=1.0, top_p=0.0)),
    ("top_p_099_hot", 180, dict(temperature=1.5, top_p=0.99)),
    ("min_p_01", 160, dict(temperature=1.0, min_p=0.1)),
    ("min_p_005_temp", 128, dict(temperature=0.5, min_p=0.05)),
    ("min_p_1", 90, dict(temperature=1.0, min_p=1.0)),
    ("min_p_0", 75, dict(temperature=1.0, min_p=0.0)),
    ("penalty_temp", 110, dict(temperature=0.9, repetition_penalty=1.2)),
    ("all_filters", 200, dict(temperature=0.8, top_k=50, top_p=0.9, min_p=0.05, repetition_penalty=1.1)),
    ("all_filters_hot", 173, dict(temperature=1.3, top_k=20, top_p=0.95, min_p=0.02, repetition_penalty=1.5)),
    ("k_then_p", 140, dict(temperature=1.0, top_k=10, top_p=0.7)),
    ("p_then_minp", 190, dict(temperature=0.7, top_p=0.8, min_p=0.2)),
]


def check_versions():
    got = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
           "numpy": np.__version__}
    if got != EXPECTED_VERSIONS:
        sys.exit(f"gen_sampling_goldens.py: expected {EXPECTED_VERSIONS}, found {got}")


def full_options(o):
    d = dict(temperature=0.0, top_k=0, top_p=1.0, min_p=None, repetition_penalty=1.0)
    d.update(o)
    return d


def processors(o):
    """The processor list generate() builds for these options (generation/utils.py, 5.23.0)."""
    procs = LogitsProcessorList()
    if o["repetition_penalty"] != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(float(o["repetition_penalty"])))
    if o["temperature"] > 0:  # do_sample=True
        if o["temperature"] != 1.0:
            procs.append(TemperatureLogitsWarper(float(o["temperature"])))
        if o["top_k"] != 0:
            procs.append(TopKLogitsWarper(top_k=o["top_k"], min_tokens_to_keep=1))
        if o["top_p"] < 1.0:
            procs.append(TopPLogitsWarper(top_p=o["top_p"], min_tokens_to_keep=1))
        if o["min_p"] is not None:
            procs.append(MinPLogitsWarper(min_p=o["min_p"], min_tokens_to_keep=1))
    return procs


def reference64(logits, history, o):
    """float64 numpy re-derivation with a stable sort; returns (kept mask, ok) where ok is False when a
    threshold decision lies within MARGIN of its boundary."""
    s = logits.astype(np.float64).copy()
    ok = True
    if o["repetition_penalty"] != 1.0:
        for i in sorted(set(h for h in history if 0 <= h < len(s))):
            s[i] = s[i] * o["repetition_penalty"] if s[i] < 0 else s[i] / o["repetition_penalty"]
    if o["temperature"] == 0:
        return np.isfinite(s), ok
    s = s / o["temperature"]
    if o["top_k"] != 0:
        k = min(max(o["top_k"], 1), len(s))
        kth = np.sort(s)[::-1][k - 1]
        s[s < kth] = -np.inf

    def softmax(x):
        m = np.max(x)
        e = np.where(np.isfinite(x), np.exp(x - m), 0.0)
        return e / e.sum()

    if o["top_p"] < 1.0:
        p = softmax(s)
        order = np.argsort(s, kind="stable")
        cum = np.cumsum(p[order])
        thr = 1.0 - o["top_p"]
        for j, i in enumerate(order[:-1]):
            if p[i] > 0 and abs(cum[j] - thr) <= MARGIN * max(thr, 1e-3):
                ok = False
            if cum[j] <= thr:
                s[i] = -np.inf
    if o["min_p"] is not None:
        p = softmax(s)
        thr = o["min_p"] * p.max()
        for i in range(len(s)):
            if p[i] > 0 and abs(p[i] - thr) <= MARGIN * thr and o["min_p"] not in (0.0, 1.0):
                ok = False
            if p[i] < thr:
                s[i] = -np.inf
    return np.isfinite(s), ok


def ties_straddle_top_p(scores_before_top_p, scores_after):
    """True when two equal scores before top-p end up one kept and one removed."""
    before = scores_before_top_p.numpy()
    after = np.isfinite(scores_after.numpy())
    for v in np.unique(before[np.isfinite(before)]):
        idx = np.nonzero(before == v)[0]
        if len(idx) > 1 and len(set(after[idx])) > 1:
            return True
    return False


def draw_logits(rng, V):
    x = rng.normal(0.0, 2.5, V).astype(np.float32)
    # ties: copy a few values onto other positions (including near the top)
    order = np.argsort(-x)
    for src in (order[2], order[5], order[V // 3]):
        for dst in rng.choice(V, 2, replace=False):
            x[dst] = x[src]
    # quantize a block so many values tie
    blk = rng.choice(V, V // 8, replace=False)
    x[blk] = np.round(x[blk] * 2) / 2
    # -inf entries (as a bad-words or masked vocabulary would leave)
    x[rng.choice(V, max(1, V // 20), replace=False)] = -np.inf
    return x


def draw_history(rng, V, logits):
    n = int(rng.integers(4, 24))
    top = np.argsort(-np.where(np.isfinite(logits), logits, -1e30))[:10]
    h = list(rng.integers(0, V, n)) + list(rng.choice(top, 4)) + [int(top[0])] * 2
    rng.shuffle(h)
    return [int(t) for t in h]


def apply(procs, logits, history):
    ids = torch.tensor([history], dtype=torch.long)
    scores = torch.tensor(logits).unsqueeze(0)
    return procs(ids, scores)[0]


def top_p_input(o, logits, history):
    """The scores as they enter TopPLogitsWarper (for the tie check)."""
    pre = dict(o)
    pre["top_p"], pre["min_p"] = 1.0, None
    return apply(processors(pre), logits, history)


def num(x):
    if np.isneginf(x):
        return None
    f = np.float32(x)
    s = float(str(f))
    assert np.float32(s) == f, (x, s)
    return s


def check_order_against_generate():
    """generate()'s processed scores equal this script's processor list on the raw logits."""
    model = AutoModelForCausalLM.from_pretrained(FIXTURE, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    prompt = [5, 17, 99, 17, 200, 31]
    for o in [dict(temperature=0.8, top_k=50, top_p=0.9, min_p=0.05, repetition_penalty=1.3),
              dict(temperature=1.4, top_k=7, repetition_penalty=0.8),
              dict(temperature=0.0, repetition_penalty=1.5)]:
        o = full_options(o)
        kw = dict(do_sample=o["temperature"] > 0, max_new_tokens=6, output_logits=True,
                  output_scores=True, return_dict_in_generate=True, repetition_penalty=o["repetition_penalty"],
                  top_k=o["top_k"] if o["top_k"] else None, top_p=o["top_p"], min_p=o["min_p"])
        if o["temperature"] > 0:
            kw["temperature"] = o["temperature"]
        torch.manual_seed(0)
        out = model.generate(torch.tensor([prompt]), **kw)
        seq = out.sequences[0].tolist()
        if len(out.scores) < 2:
            sys.exit(f"generate() stopped after {len(out.scores)} step(s) for {o}; pick another prompt")
        procs = processors(o)
        for step, (raw, got) in enumerate(zip(out.logits, out.scores)):
            hist = seq[:len(prompt) + step]
            want = procs(torch.tensor([hist]), raw.clone())
            if not torch.equal(want, got):
                sys.exit(f"processor order differs from generate() at step {step} for {o}")
    print("processor order matches generate() on tests/data/hf/llama")


def main():
    check_versions()
    torch.set_num_threads(1)
    check_order_against_generate()
    rng = np.random.default_rng(SEED)
    cases = []
    for name, V, opts in CASES:
        o = full_options(opts)
        for attempt in range(200):
            logits = draw_logits(rng, V)
            history = draw_history(rng, V, logits)
            if name == "greedy_penalty":
                history.append(V + 3)  # an id outside the vocabulary: ignored
            got = apply(processors(o), logits, history)
            kept64, ok = reference64(logits, history, o)
            if not ok or not np.array_equal(kept64, np.isfinite(got.numpy())):
                continue
            if o["top_p"] < 1.0 and o["temperature"] > 0 and ties_straddle_top_p(top_p_input(o, logits, history), got):
                continue
            if name == "top_k_tie_at_kth" and int(np.isfinite(got.numpy()).sum()) <= o["top_k"]:
                continue
            break
        else:
            sys.exit(f"case {name}: no draw away from the decision boundaries")
        n_kept = int(np.isfinite(got.numpy()).sum())
        cases.append({"name": name, "logits": [num(x) for x in logits], "history": history,
                      "options": {"temperature": o["temperature"], "top_k": o["top_k"], "top_p": o["top_p"],
                                  "min_p": 0.0 if o["min_p"] is None else o["min_p"],
                                  "repetition_penalty": o["repetition_penalty"]},
                      "expected": [num(x) for x in got.numpy()]})
        print(f"{name:20s} V={V:3d} kept {n_kept:3d} (attempt {attempt + 1})")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    meta = {"generator": "tools/gen_sampling_goldens.py", **EXPECTED_VERSIONS, "seed": SEED}
    with open(OUT, "w") as f:
        f.write('{"meta": ' + json.dumps(meta, sort_keys=True) + ',\n"cases": [\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

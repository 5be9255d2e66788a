#!/usr/bin/env python3
"""Writes the forward-pass goldens in tests/data/forward/ from Hugging Face transformers (the oracle).

Pinned oracle: transformers==5.23.0, torch==2.15.0, safetensors==0.8.0, gguf==0.19.0 (tools/requirements.txt).
Run from the repository root:
  /work/tools-venv/bin/python tools/gen_forward_goldens.py            # tiny fixtures -> tests/data/forward/<type>.safetensors
  /work/tools-venv/bin/python tools/gen_forward_goldens.py --real     # also SmolLM2 from the GGUF -> smollm2_{bf16,f32}.safetensors

Tiny fixtures (tests/data/hf/<type>/, written by tools/gen_hf_fixtures.py): each is loaded with
AutoModelForCausalLM (float32, attn_implementation="eager") and run on three seeded random token
sequences of lengths 5, 11 and 37 (37 > mistral's sliding_window of 32, so the window matters), each as a
batch of one. Forward hooks record the residual stream after every decoder layer and the output of the
final norm; the logits come from the model's output. Per fixture file, tensors:
  seq.<b>.tokens (T) I32, seq.<b>.embed (T, D), seq.<b>.hidden.<l> (T, D) after layer l,
  seq.<b>.final_norm (T, D), seq.<b>.logits (T, V);
  gen.<b>.prompt (T) I32 and gen.<b>.tokens (20) I32: greedy continuation of the first two sequences,
  decoded with transformers' KV cache by argmax (no EOS stop); the script checks that model.generate
  (do_sample=False) agrees up to its EOS stop, and that the argmax gap at every step is far above fp32 noise.
The metadata (one key, "mc_golden", holding JSON) records the versions and the smallest top-1/top-2
gap seen during generation.

RoPE tables (rope_inv_freq.json): for default, linear and llama3 rope parameters (the fixtures' and the
published Llama-3.1 / 3.2 ones), transformers' inverse frequencies (ROPE_INIT_FUNCTIONS / the default
rule) and the cos / sin its rotary module produces at a few positions, as float32 bit patterns.

Real model (--real): SmolLM2-135M-Instruct loaded by transformers from the Q4_1 GGUF
(models/SmolLM2-135M-Instruct.Q4_1.gguf; transformers dequantizes to float32 and undoes llama.cpp's Q/K
permutation). Two variants: weights as dequantized (f32) and rounded to bfloat16 (torch .to(bfloat16)),
which is what `mc model import-gguf` stores by default. Three fixed token-id sequences; per sequence:
  seq.<b>.tokens, seq.<b>.last_logits (V) full logits at the last position,
  seq.<b>.top_ids / seq.<b>.top_vals (T, 16) the 16 largest logits at every position,
  seq.<b>.logit_absmax (T) max |logit| at every position, seq.<b>.gen (20) greedy continuation.
"""
import argparse
import json
import os
import sys

import safetensors
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HF_DIR = os.path.join(REPO, "tests", "data", "hf")
OUT = os.path.join(REPO, "tests", "data", "forward")
EXPECTED_VERSIONS = {"transformers": "5.23.0", "torch": "2.15.0", "safetensors": "0.8.0"}
TYPES = ["llama", "mistral", "qwen2", "qwen3", "lfm2"]
SEQ_LENS = [5, 11, 37]
GEN_TOKENS = 20
SEED = 4242
REAL_GGUF = os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
# Fixed token-id sequences for the real model: the SmolLM2 tokenizer's ids of
#   "The capital of France is", "def fibonacci(n):\n", and the chat-templated "What is 2+2?"
REAL_TEXTS = [
    "The capital of France is",
    "def fibonacci(n):\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
]
REAL_TOPK = 16


def check_versions():
    got = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
           "safetensors": safetensors.__version__}
    if got != EXPECTED_VERSIONS:
        sys.exit(f"gen_forward_goldens.py: expected {EXPECTED_VERSIONS}, found {got}")


def one_key_metadata(info):
    """safetensors writes metadata keys in hash order, so more than one key makes the file bytes vary from
    run to run; everything goes into one JSON-valued key instead (the files are then reproducible)."""
    return {"mc_golden": json.dumps(info, sort_keys=True)}


def layers_and_norm(model):
    base = model.model
    norm = base.embedding_norm if model.config.model_type == "lfm2" else base.norm
    return base.layers, norm


@torch.no_grad()
def run_with_hooks(model, ids):
    """logits (T, V), embeddings (T, D), per-layer outputs [(T, D)], final norm output (T, D)."""
    layers, norm = layers_and_norm(model)
    captured = {}

    def hook(name):
        def fn(_module, _inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            captured[name] = out.detach()[0].clone()
        return fn

    handles = [l.register_forward_hook(hook(f"layer{i}")) for i, l in enumerate(layers)]
    handles.append(norm.register_forward_hook(hook("norm")))
    handles.append(model.model.embed_tokens.register_forward_hook(hook("embed")))
    try:
        out = model(torch.tensor([ids]), use_cache=False)
    finally:
        for h in handles:
            h.remove()
    hidden = [captured[f"layer{i}"] for i in range(len(layers))]
    return out.logits[0].detach().clone(), captured["embed"], hidden, captured["norm"]


@torch.no_grad()
def greedy_cached(model, prompt, n):
    """n argmax tokens decoded with transformers' KV cache (no EOS stop)."""
    out = model(torch.tensor([prompt]), use_cache=True)
    past = out.past_key_values
    toks = []
    for _ in range(n):
        nxt = int(torch.argmax(out.logits[0, -1]).item())
        toks.append(nxt)
        out = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
    return toks


@torch.no_grad()
def check_generation(model, prompt, toks):
    """Full recomputation agrees with the cached tokens; returns the smallest top-1/top-2 gap relative to
    the position's max |logit|. Also checks model.generate up to its EOS stop."""
    full = model(torch.tensor([prompt + toks]), use_cache=False).logits[0]
    min_gap = float("inf")
    for i, t in enumerate(toks):
        row = full[len(prompt) - 1 + i]
        top2 = torch.topk(row, 2)
        if int(top2.indices[0]) != t:
            sys.exit(f"cached and recomputed greedy tokens differ at step {i}")
        min_gap = min(min_gap, float((top2.values[0] - top2.values[1]) / row.abs().max()))
    gen = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=len(toks))[0, len(prompt):].tolist()
    if gen != toks[:len(gen)]:
        sys.exit(f"model.generate {gen} disagrees with the argmax loop {toks}")
    return min_gap


def gen_fixture(model_type):
    path = os.path.join(HF_DIR, model_type)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(SEED + TYPES.index(model_type))
    tensors = {}
    min_gap = float("inf")
    for b, T in enumerate(SEQ_LENS):
        ids = torch.randint(0, V, (T,), generator=g).tolist()
        logits, embed, hidden, final = run_with_hooks(model, ids)
        tensors[f"seq.{b}.tokens"] = torch.tensor(ids, dtype=torch.int32)
        tensors[f"seq.{b}.embed"] = embed
        for l, h in enumerate(hidden):
            tensors[f"seq.{b}.hidden.{l}"] = h
        tensors[f"seq.{b}.final_norm"] = final
        tensors[f"seq.{b}.logits"] = logits
        if b < 2:
            toks = greedy_cached(model, ids, GEN_TOKENS)
            min_gap = min(min_gap, check_generation(model, ids, toks))
            tensors[f"gen.{b}.prompt"] = torch.tensor(ids, dtype=torch.int32)
            tensors[f"gen.{b}.tokens"] = torch.tensor(toks, dtype=torch.int32)
    if min_gap < 1e-3:
        sys.exit(f"{model_type}: greedy top-1/top-2 gap {min_gap:.2e} is too close to fp32 noise; change SEED")
    meta = one_key_metadata({"generator": "tools/gen_forward_goldens.py", "source": f"tests/data/hf/{model_type}",
                             "versions": EXPECTED_VERSIONS, "min_greedy_gap": f"{min_gap:.6e}"})
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    out = os.path.join(OUT, f"{model_type}.safetensors")
    save_file(tensors, out, metadata=meta)
    print(f"{out}: {os.path.getsize(out)} bytes, min greedy gap {min_gap:.3e}")


ROPE_CASES = [
    dict(name="default_1e4_64", rope_type="default", rope_theta=10000.0, head_dim=64),
    dict(name="default_1e6_128", rope_type="default", rope_theta=1000000.0, head_dim=128),
    dict(name="default_1e5_64_smollm2", rope_type="default", rope_theta=100000.0, head_dim=64),
    dict(name="linear_4_64", rope_type="linear", rope_theta=10000.0, head_dim=64, factor=4.0),
    dict(name="llama3_fixture", rope_type="llama3", rope_theta=500000.0, head_dim=16, factor=8.0,
         low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64),
    dict(name="llama3_1_8b", rope_type="llama3", rope_theta=500000.0, head_dim=128, factor=8.0,
         low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192),
    dict(name="llama3_2_1b", rope_type="llama3", rope_theta=500000.0, head_dim=64, factor=32.0,
         low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192),
]
ROPE_POSITIONS = [0, 1, 7, 100, 4095, 131071]


def f32_hex_list(t):
    return ["0x%08x" % (v & 0xFFFFFFFF) for v in t.to(torch.float32).contiguous().view(torch.int32).tolist()]


def gen_rope():
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    cases = []
    for case in ROPE_CASES:
        params = {k: v for k, v in case.items() if k not in ("name", "head_dim")}
        cfg = LlamaConfig(hidden_size=case["head_dim"] * 4, num_attention_heads=4, head_dim=case["head_dim"],
                          max_position_embeddings=131072, rope_parameters=params)
        rot = LlamaRotaryEmbedding(cfg)
        if case["rope_type"] == "default":
            inv, _ = LlamaRotaryEmbedding.compute_default_rope_parameters(cfg)
        else:
            inv, _ = ROPE_INIT_FUNCTIONS[case["rope_type"]](cfg, None)
        if not torch.equal(inv, rot.inv_freq):
            sys.exit(f"rope {case['name']}: init function and rotary module disagree")
        pos = torch.tensor([ROPE_POSITIONS])
        cos, sin = rot(torch.zeros(1, dtype=torch.float32), pos)
        half = case["head_dim"] // 2
        cases.append(dict(case, inv_freq=f32_hex_list(inv), positions=ROPE_POSITIONS,
                          cos=[f32_hex_list(cos[0, i, :half]) for i in range(len(ROPE_POSITIONS))],
                          sin=[f32_hex_list(sin[0, i, :half]) for i in range(len(ROPE_POSITIONS))]))
    doc = {"generator": "tools/gen_forward_goldens.py", "versions": EXPECTED_VERSIONS, "cases": cases}
    out = os.path.join(OUT, "rope_inv_freq.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{out}: {os.path.getsize(out)} bytes")


def gen_real():
    from transformers import AutoTokenizer
    if not os.path.exists(REAL_GGUF):
        sys.exit(f"missing {REAL_GGUF}")
    d, f = os.path.dirname(REAL_GGUF), os.path.basename(REAL_GGUF)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    seqs = [tok(t, add_special_tokens=False)["input_ids"] for t in REAL_TEXTS]
    for variant in ["f32", "bf16"]:
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="eager")
        model.eval()
        if variant == "bf16":
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(p.to(torch.bfloat16).float())
        tensors = {}
        min_gap = float("inf")
        for b, ids in enumerate(seqs):
            with torch.no_grad():
                logits = model(torch.tensor([ids]), use_cache=False).logits[0]
            top = torch.topk(logits, REAL_TOPK, dim=-1)
            tensors[f"seq.{b}.tokens"] = torch.tensor(ids, dtype=torch.int32)
            tensors[f"seq.{b}.last_logits"] = logits[-1].clone()
            tensors[f"seq.{b}.top_ids"] = top.indices.to(torch.int32)
            tensors[f"seq.{b}.top_vals"] = top.values.clone()
            tensors[f"seq.{b}.logit_absmax"] = logits.abs().max(dim=-1).values.clone()
            toks = greedy_cached(model, ids, GEN_TOKENS)
            min_gap = min(min_gap, check_generation(model, ids, toks))
            tensors[f"seq.{b}.gen"] = torch.tensor(toks, dtype=torch.int32)
            print(f"  {variant} seq {b}: {ids} -> {toks} {tok.decode(toks)!r}")
        meta = one_key_metadata({"generator": "tools/gen_forward_goldens.py --real",
                                 "source": "models/SmolLM2-135M-Instruct.Q4_1.gguf", "weights": variant,
                                 "versions": EXPECTED_VERSIONS, "min_greedy_gap": f"{min_gap:.6e}"})
        tensors = {k: v.contiguous() for k, v in tensors.items()}
        out = os.path.join(OUT, f"smollm2_{variant}.safetensors")
        save_file(tensors, out, metadata=meta)
        print(f"{out}: {os.path.getsize(out)} bytes, min greedy gap {min_gap:.3e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", action="store_true", help="also write the SmolLM2 goldens from the GGUF")
    ap.add_argument("--only-real", action="store_true", help="write only the SmolLM2 goldens")
    args = ap.parse_args()
    check_versions()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    if not args.only_real:
        for t in TYPES:
            gen_fixture(t)
        gen_rope()
    if args.real or args.only_real:
        gen_real()


if __name__ == "__main__":
    main()

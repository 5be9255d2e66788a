#!/usr/bin/env python3
"""Writes the generation goldens in tests/data/infer/ from Hugging Face transformers (the oracle).

Pinned oracle: transformers==5.23.0, torch==2.15.0, tokenizers==0.23.3 (tools/requirements.txt).
Run from the repository root:
  /work/tools-venv/bin/python tools/gen_infer_goldens.py           # tiny fixture only
  /work/tools-venv/bin/python tools/gen_infer_goldens.py --real    # also SmolLM2 (models/SmolLM2-135M-Instruct)

Tiny fixture (no real model needed):
  tiny_tokenizer/tokenizer.json, tokenizer_config.json: a byte-level tokenizer with 256 ids that fits the
  tiny llama fixture (tests/data/hf/llama, vocab 256, eos_token_id [2, 3], context 256): ids 0-3 are the
  special tokens <pad> <s> </s> <|eot|>, id b (4..255) is byte b (GPT-2 ByteLevel pieces, no merges), so
  bytes 0-3 cannot be encoded. The config sets bos/eos/pad and a small ChatML-like chat template.
  tiny_llama.json: for a model directory made of tests/data/hf/llama plus those two files (what
  tests/golden/cli_infer_test.cpp builds in a temporary directory), transformers (float32, eager) runs
  generate(do_sample=False, max_new_tokens=N) on chat-templated prompts (apply_chat_template with
  add_generation_prompt=True) and raw prompts (tokenizer(prompt), special tokens as its post-processor
  adds them), some with repetition_penalty. Stored per case: the prompt, system message, options,
  the rendered prompt text, prompt ids, the new ids (generate() stops after an eos id, which it keeps)
  and the text tokenizer.decode(new ids without a final eos, skip_special_tokens=True). The random
  weights give near-uniform logits, so the script records the smallest top-1/top-2 gap of every step
  (after the repetition penalty) and refuses cases where it is under 1e-4 of the logit scale.

Real model (--real): SmolLM2-135M-Instruct as mc reads it (models/SmolLM2-135M-Instruct, an HF directory
made by `mc model import-gguf`, bf16 weights loaded as float32, eager attention), three chat prompts
(one with a system message), greedy generate() of 24 new tokens -> smollm2_chat.json with the same fields.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import tokenizers
import torch
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "data", "infer")
TINY_TOK = os.path.join(OUT, "tiny_tokenizer")
LLAMA = os.path.join(REPO, "tests", "data", "hf", "llama")
REAL_DIR = os.path.join(REPO, "models", "SmolLM2-135M-Instruct")
EXPECTED_VERSIONS = {"transformers": "5.23.0", "torch": "2.15.0", "tokenizers": "0.23.3"}
SPECIALS = ["<pad>", "<s>", "</s>", "<|eot|>"]
TINY_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}<|eot|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<s>assistant\n{% endif %}")
MIN_GAP = 1e-4

# name, system, prompt, raw, max_new_tokens, repetition_penalty
TINY_CASES = [
    ("chat_hello", None, "hello", False, 40, 1.0),
    ("chat_system", "Be brief.", "What is 2+2?", False, 40, 1.0),
    ("raw_fox", None, "The quick brown fox", True, 48, 1.0),
    ("raw_penalty", None, "The quick brown fox", True, 48, 1.3),
    ("chat_reward", None, "Tell me a story", False, 32, 0.8),
]
REAL_CASES = [
    ("capital", None, "What is the capital of France?"),
    ("haiku", None, "Write a haiku about the sea."),
    ("system_math", "You are a concise math tutor.", "What is 12 times 7?"),
]
REAL_NEW_TOKENS = 24


def check_versions():
    got = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
           "tokenizers": tokenizers.__version__}
    if got != EXPECTED_VERSIONS:
        sys.exit(f"gen_infer_goldens.py: expected {EXPECTED_VERSIONS}, found {got}")


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (the ByteLevel pre-tokenizer's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def write_tiny_tokenizer():
    b2u = bytes_to_unicode()
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for b in range(len(SPECIALS), 256):
        vocab[b2u[b]] = b
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    os.makedirs(TINY_TOK, exist_ok=True)
    tok.save(os.path.join(TINY_TOK, "tokenizer.json"))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
           "pad_token": "<pad>", "model_max_length": 256, "chat_template": TINY_TEMPLATE}
    with open(os.path.join(TINY_TOK, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def messages_of(system, prompt):
    m = [{"role": "system", "content": system}] if system else []
    return m + [{"role": "user", "content": prompt}]


@torch.no_grad()
def run_case(model, tok, eos_ids, system, prompt, raw, max_new, penalty):
    if raw:
        rendered = prompt
        ids = tok(prompt)["input_ids"]
    else:
        rendered = tok.apply_chat_template(messages_of(system, prompt), add_generation_prompt=True, tokenize=False)
        ids = tok.apply_chat_template(messages_of(system, prompt), add_generation_prompt=True, tokenize=True,
                                      return_dict=True)["input_ids"]
        if tok(rendered, add_special_tokens=False)["input_ids"] != ids:
            sys.exit("apply_chat_template ids differ from encoding its text")
    kw = dict(do_sample=False, max_new_tokens=max_new, output_logits=True, return_dict_in_generate=True)
    if penalty != 1.0:
        kw["repetition_penalty"] = penalty
    out = model.generate(torch.tensor([ids]), **kw)
    new = out.sequences[0, len(ids):].tolist()
    # smallest top-1/top-2 gap over the steps, after the repetition penalty, relative to max |logit|
    min_gap = float("inf")
    seq = list(ids)
    for step, raw_logits in enumerate(out.logits):
        row = raw_logits[0].clone()
        if penalty != 1.0:
            for t in set(seq):
                row[t] = row[t] * penalty if row[t] < 0 else row[t] / penalty
        top2 = torch.topk(row, 2)
        if int(top2.indices[0]) != new[step]:
            sys.exit(f"argmax of the penalised logits differs from generate() at step {step}")
        min_gap = min(min_gap, float((top2.values[0] - top2.values[1]) / row.abs().max()))
        seq.append(new[step])
    shown = new[:-1] if new and new[-1] in eos_ids else new
    text = tok.decode(shown, skip_special_tokens=True)
    stop = "eos" if new and new[-1] in eos_ids else "max_tokens"
    return {"system": system, "prompt": prompt, "raw": raw, "max_new_tokens": max_new,
            "repetition_penalty": penalty, "rendered": rendered, "prompt_ids": ids, "new_ids": new,
            "text": text, "stop_reason": stop, "min_gap": min_gap}


def eos_of(model):
    e = model.generation_config.eos_token_id
    return [e] if isinstance(e, int) else list(e)


def gen_tiny():
    write_tiny_tokenizer()
    with tempfile.TemporaryDirectory() as d:
        for f in os.listdir(LLAMA):
            shutil.copy(os.path.join(LLAMA, f), d)
        for f in os.listdir(TINY_TOK):
            shutil.copy(os.path.join(TINY_TOK, f), d)
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        eos = eos_of(model)
        cases = []
        for name, system, prompt, raw, max_new, penalty in TINY_CASES:
            c = run_case(model, tok, eos, system, prompt, raw, max_new, penalty)
            if c["min_gap"] < MIN_GAP:
                sys.exit(f"tiny case {name}: top-1/top-2 gap {c['min_gap']:.2e} is too small to compare across implementations")
            print(f"tiny {name:12s} prompt {len(c['prompt_ids']):3d} new {len(c['new_ids']):3d} {c['stop_reason']:10s} "
                  f"min gap {c['min_gap']:.2e} text {c['text'][:40]!r}")
            cases.append({"name": name, **c})
    write_json("tiny_llama.json", {"model": "tests/data/hf/llama + tests/data/infer/tiny_tokenizer", "eos_token_ids": eos,
                                   "cases": cases})


def gen_real():
    if not os.path.exists(os.path.join(REAL_DIR, "config.json")):
        sys.exit(f"{REAL_DIR} not found (run `mc model import-gguf` first)")
    tok = AutoTokenizer.from_pretrained(REAL_DIR)
    model = AutoModelForCausalLM.from_pretrained(REAL_DIR, dtype=torch.float32, attn_implementation="eager").eval()
    eos = eos_of(model)
    cases = []
    for name, system, prompt in REAL_CASES:
        c = run_case(model, tok, eos, system, prompt, False, REAL_NEW_TOKENS, 1.0)
        print(f"real {name:12s} prompt {len(c['prompt_ids']):3d} new {len(c['new_ids']):3d} {c['stop_reason']:10s} "
              f"min gap {c['min_gap']:.2e} text {c['text']!r}")
        cases.append({"name": name, **c})
    write_json("smollm2_chat.json", {"model": "models/SmolLM2-135M-Instruct (bf16 safetensors from mc model import-gguf)",
                                     "eos_token_ids": eos, "cases": cases})


def write_json(name, doc):
    doc = {"meta": {"generator": "tools/gen_infer_goldens.py", **EXPECTED_VERSIONS}, **doc}
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", action="store_true", help="also write smollm2_chat.json from the real model")
    a = ap.parse_args()
    check_versions()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen_tiny()
    if a.real:
        gen_real()


if __name__ == "__main__":
    main()

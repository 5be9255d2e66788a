#!/usr/bin/env python3
"""Oracle values for `mc model import-gguf` (src/model/gguf_import.cpp, src/io/tokenizer/gguf_tokenizer.cpp).

Pinned oracle: transformers==5.23.0, torch==2.15.0, tokenizers==0.23.3, gguf==0.19.0, numpy
(see tools/requirements.txt). Run from the repository root:

  /work/tools-venv/bin/python tools/gen_gguf_import_golden.py tiny
      Writes tests/data/gguf_import/<name>/{model.gguf, expected.json, original_tokenizer.json} for the
      tiny fixtures llama (SmolLM2-shaped: tied, llama.cpp Q/K permutation, "smollm" byte-level tokenizer,
      a rope_freqs tensor that must be skipped), qwen2 (q/k/v biases, untied, "qwen2" pre-tokenizer),
      qwen3 (q_norm/k_norm, head_dim 128 != hidden/heads), lfm2 (conv + attention layers, per-layer
      head_count_kv, "lfm2" pre-tokenizer with BOS) and spm (a llama GGUF with a SentencePiece "llama"
      tokenizer and scores, no merges), plus the bad inputs bad_arch.gguf, bad_shape.gguf, bad_pre.gguf.
      Each GGUF is written the way llama.cpp's convert_hf_to_gguf.py writes one (gguf-py tensor map,
      LlamaModel.permute for llama Q/K, LFM2 conv squeeze, quantized with gguf.quants) from a randomly
      initialised transformers model. Expected values come from transformers' own GGUF loader
      (AutoModelForCausalLM/AutoTokenizer with gguf_file=): per HF tensor the shape and SHA-256 of its
      float32 bytes and of its bfloat16 bytes (torch .to(bfloat16), round to nearest even), the config
      values, and token ids. original_tokenizer.json is the tokenizer the GGUF was made from (serialised
      by `tokenizers`); mc must rebuild it.

  /work/tools-venv/bin/python tools/gen_gguf_import_golden.py real [--gguf PATH]
      Writes tests/data/gguf_import/smollm2_real.json for models/SmolLM2-135M-Instruct.Q4_1.gguf: per
      tensor SHA-256 of the float32 state dict transformers loads (and of its bfloat16 cast), the config,
      the parameter count (model.num_parameters(), which counts the tied embedding once), and token ids for
      ~50 strings from (a) transformers' GGUF tokenizer and (b) SmolLM2's original tokenizer structure
      (Digits(individual_digits) + ByteLevel, as llama.cpp's "smollm" pre-tokenizer splits), rebuilt here
      with `tokenizers` from the GGUF vocabulary and merges.

  /work/tools-venv/bin/python tools/gen_gguf_import_golden.py check-real DIR [--dtype f32|bf16]
      Checks a directory made by `mc model import-gguf` against smollm2_real.json: every tensor digest,
      config, and that its tokenizer.json (PyPI tokenizers) and AutoTokenizer/AutoModelForCausalLM load it
      and give the recorded ids. Reports each string where transformers' GGUF tokenizer differs from the
      original behaviour.

  /work/tools-venv/bin/python tools/gen_gguf_import_golden.py check-tiny DIR_PREFIX
      Same for the tiny fixtures imported (float32) to DIR_PREFIX/<name>.

  /work/tools-venv/bin/python tools/gen_gguf_import_golden.py assets DIR [--compare]
      Writes tokenizer-only GGUFs (not committed) from the real tokenizers in
      /work/shared/assets/tokenizers, as llama.cpp would (llama3 → "llama-bpe", qwen3 → "qwen2"), to
      DIR/assets_<name>.gguf; with --compare, checks mc's imports DIR/assets_<name>/tokenizer.json against
      the original tokenizer.json on STRINGS plus a paragraph (and reports transformers' GGUF result).
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import transformers
import tokenizers
import gguf
from gguf import GGMLQuantizationType as Q
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "data", "gguf_import")
REAL_GGUF = os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
ASSETS = "/work/shared/assets/tokenizers"

EXPECTED_VERSIONS = {"transformers": "5.23.0", "torch": "2.15.0", "tokenizers": "0.23.3"}

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

CORPUS = """The quick brown fox jumps over the lazy dog. Hello world! Hello, there; hello again.
It's a test: don't stop, we'll see what they've done. I'm sure you'd like it.
In 2024 the price was 1,234.56 dollars, and 42 people paid 3.14 each.
def main(argv):
    for i in range(10):
        print(i * 2, "item", argv[i])
    return 0
The model learns merges from text like this. Tokenizers split words, numbers and punctuation.
Café, naïve, résumé — unicode text. 日本語 and 中文 appear too. Emoji 😀 sometimes.
""" * 3

# Strings tokenized by every tokenizer in the goldens: spaces, digits, code, unicode, special tokens.
STRINGS = [
    "Hello world", "Hello world!", " leading space", "  two leading spaces", "trailing space ", "tabs\tand\nnewlines\n\n",
    "12345", "3.14159", "year 2024!", "a1b2c3", "1,000,000", "phone: +1-555-0100", "0.5x", "1 2 3",
    "def foo(x):\n    return x**2\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }", "#include <stdio.h>",
    "    indented", "x^2 + y^2 = z^2", "tensor[0][1]", "https://example.com/path?q=1&r=2", "user@example.com",
    "<|im_start|>user\nHi there<|im_end|>\n", "<|endoftext|>", "<|im_start|>", "text<|im_end|>more",
    "<|im_start|>assistant\n", "<repo_name>foo<file_sep>bar",
    "café", "naïve résumé", "日本語のテキスト", "中文", "Здравствуй, мир", "مرحبا بالعالم", "emoji 😀🎉", "👍🏽",
    "\u00a0nbsp", "zero\u200bwidth", "CamelCaseWords", "snake_case_words", "ALLCAPS SHOUT", "don't won't it's",
    "I'm He'll we'd They've", "\r\n", "$$ math $$", "", " ", "\n", "a", "...", "!!!???", "—em dash– en",
    "Ω≈ç√∫", "The quick brown fox jumps over the lazy dog.", "   \n\n   spaces and newlines   ",
    # Space runs before digits: Digits-first splitting (SmolLM2, llama.cpp "smollm") keeps "  " whole.
    "a  1", "x   42", "end.  3 items", "price  $100",
]


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def digests(t):
    t = t.detach().to(torch.float32).contiguous()
    f32 = sha256(t.numpy().tobytes())
    bf16 = sha256(t.to(torch.bfloat16).view(torch.int16).numpy().tobytes())
    return f32, bf16


def check_versions():
    got = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
           "tokenizers": tokenizers.__version__}
    if got != EXPECTED_VERSIONS:
        sys.exit(f"version mismatch: expected {EXPECTED_VERSIONS}, got {got}")


def load_gguf_model(path):
    d, f = os.path.split(path)
    return transformers.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)


def load_gguf_tokenizer(path):
    d, f = os.path.split(path)
    return transformers.AutoTokenizer.from_pretrained(d, gguf_file=f)


def config_values(cfg):
    """The config fields mc's import must reproduce, as transformers reads them from the GGUF."""
    out = {k: getattr(cfg, k, None) for k in (
        "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "max_position_embeddings", "tie_word_embeddings",
        "bos_token_id", "eos_token_id", "pad_token_id")}
    out["rms_norm_eps"] = getattr(cfg, "norm_eps", None) if cfg.model_type == "lfm2" else cfg.rms_norm_eps
    rp = getattr(cfg, "rope_parameters", None) or {}
    if any(isinstance(v, dict) for v in rp.values()):
        rp = rp.get("full_attention", next(iter(rp.values())))
    out["rope_theta"] = float(rp.get("rope_theta", getattr(cfg, "rope_theta", 0.0)))
    out["rope_type"] = rp.get("rope_type", "default")
    if out["head_dim"] is None:
        out["head_dim"] = cfg.hidden_size // cfg.num_attention_heads
    if cfg.model_type == "lfm2":
        out["layer_types"] = list(cfg.layer_types)
        out["conv_L_cache"] = cfg.conv_L_cache
    return out


def state_dict_entries(model):
    sd = model.state_dict()
    tied = model.config.tie_word_embeddings
    out = {}
    for name, t in sd.items():
        if tied and name == "lm_head.weight":
            continue  # not stored: tied to model.embed_tokens.weight
        f32, bf16 = digests(t)
        out[name] = {"shape": list(t.shape), "sha256_f32": f32, "sha256_bf16": bf16}
    return out


# ----------------------------------------------------------------------------------------------------
# Tokenizers

def train_byte_level(extra_special=()):
    """A tiny byte-level BPE trained on CORPUS (SmolLM2-style: Digits + ByteLevel)."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *extra_special]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    trainer = trainers.BpeTrainer(vocab_size=256 + len(specials) + 90, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS], trainer=trainer)
    j = json.loads(tok.to_str())
    vocab = j["model"]["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in j["model"]["merges"]]
    return vocab, merges, specials


def byte_level_original(vocab, merges, specials, user_defined, family, bos=None):
    """The HF tokenizer a model of this pre-tokenizer family ships (structure of the original files)."""
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=(family == "llama3")))
    if family == "digits":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    elif family == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    elif family == "qwen2":
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    if family == "qwen2":
        tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
        tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    else:
        post = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
        if bos is not None:
            post = processors.Sequence([post, processors.TemplateProcessing(
                single=f"{bos[0]}:0 $A:0", pair=f"{bos[0]}:0 $A:0 {bos[0]}:1 $B:1", special_tokens=[bos])])
        tok.post_processor = post
        tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.add_special_tokens([AddedToken(s, normalized=False, special=True) for s in specials])
    tok.add_tokens([AddedToken(s, normalized=False, special=False) for s in user_defined])
    if family == "qwen2":  # the Python ByteLevel decoder takes no options; Qwen2's file has them all false
        j = json.loads(tok.to_str())
        j["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        tok = Tokenizer.from_str(json.dumps(j))
    return tok


def gguf_tokenizer_metadata(tok, specials, user_defined):
    """What convert_hf_to_gguf.py (get_vocab_base) stores for a byte-level tokenizer."""
    vocab = tok.get_vocab(with_added_tokens=True)
    n = max(vocab.values()) + 1
    rev = {i: t for t, i in vocab.items()}
    assert len(rev) == n
    tokens = [rev[i] for i in range(n)]
    types = [3 if t in specials else 4 if t in user_defined else 1 for t in tokens]
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [" ".join(m) if isinstance(m, list) else m for m in merges]
    return tokens, types, merges


# ----------------------------------------------------------------------------------------------------
# GGUF writing (mirrors convert_hf_to_gguf.py)

GGUF_ARCH = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2, "qwen3": gguf.MODEL_ARCH.QWEN3,
             "lfm2": gguf.MODEL_ARCH.LFM2}


def llama_permute(w, n_head, n_head_kv=None):
    # convert_hf_to_gguf.py LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def write_gguf(path, arch, cfg, state, tensor_types, tok_meta, extra_tensors=(), mutate=None, arch_name=None):
    """state: HF name -> float32 numpy. tensor_types: function(gguf_name, array) -> GGMLQuantizationType."""
    w = gguf.GGUFWriter(path, arch_name or arch)
    n_layer = cfg.num_hidden_layers
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    if arch == "lfm2":
        w.add_head_count_kv([cfg.num_key_value_heads if t == "full_attention" else 0 for t in cfg.layer_types])
        w.add_shortconv_l_cache(cfg.conv_L_cache)
        w.add_layer_norm_rms_eps(cfg.norm_eps)
    else:
        w.add_head_count_kv(cfg.num_key_value_heads)
        w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    rp = cfg.rope_parameters
    w.add_rope_freq_base(rp["rope_theta"])
    if getattr(cfg, "head_dim", None) and arch in ("qwen3",):
        w.add_key_length(cfg.head_dim)
        w.add_value_length(cfg.head_dim)
    if arch == "llama":
        w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1)
    if tok_meta:
        for key, value in tok_meta:
            getattr(w, key)(value)

    name_map = gguf.get_tensor_name_map(GGUF_ARCH[arch], n_layer)
    for hf_name, data in state.items():
        base, suffix = hf_name.rsplit(".", 1)
        gname = name_map.get_name(base)
        assert gname is not None, hf_name
        gname = f"{gname}.{suffix}"
        if arch == "llama" and base.endswith("q_proj"):
            data = llama_permute(data, cfg.num_attention_heads, cfg.num_attention_heads)
        if arch == "llama" and base.endswith("k_proj"):
            data = llama_permute(data, cfg.num_attention_heads, cfg.num_key_value_heads)
        if arch == "lfm2" and base.endswith("conv.conv"):
            data = data.squeeze(1)
        if mutate:
            data = mutate(gname, data)
        qt = tensor_types(gname, data)
        w.add_tensor(gname, gguf.quants.quantize(np.ascontiguousarray(data), qt), raw_dtype=qt)
    for gname, data in extra_tensors:
        w.add_tensor(gname, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def byte_level_tok_meta(tokens, types, merges, pre, bos, eos, unk, pad, add_bos, template=CHATML):
    meta = [("add_tokenizer_model", "gpt2"), ("add_tokenizer_pre", pre), ("add_token_list", tokens),
            ("add_token_types", types), ("add_token_merges", merges), ("add_bos_token_id", bos),
            ("add_eos_token_id", eos)]
    if unk is not None:
        meta.append(("add_unk_token_id", unk))
    if pad is not None:
        meta.append(("add_pad_token_id", pad))
    meta += [("add_add_bos_token", add_bos), ("add_chat_template", template)]
    return meta


# ----------------------------------------------------------------------------------------------------
# Tiny fixtures

def tiny_model(model_type, seed, **kw):
    torch.manual_seed(seed)
    cfg = transformers.AutoConfig.for_model(model_type, **kw)
    model = transformers.AutoModelForCausalLM.from_config(cfg).to(torch.float32)
    with torch.no_grad():
        for p in model.parameters():  # random everything (norms too), so a swapped mapping shows
            p.copy_(torch.randn_like(p) * 0.5)
    state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    return cfg, state


def qtypes_llama(name, data):
    if name == "token_embd.weight":
        return Q.Q8_0
    if data.ndim == 1:
        return Q.F32
    if ".attn_q." in name or ".attn_k." in name or ".ffn_gate." in name or ".ffn_up." in name:
        return Q.Q4_1
    if ".attn_v." in name:
        return Q.F16
    if ".attn_output." in name:
        return Q.BF16
    return Q.Q8_0


def qtypes_f32(name, data):
    return Q.F32


def qtypes_mixed(name, data):
    if data.ndim == 1:
        return Q.F32
    if name in ("token_embd.weight", "output.weight"):
        return Q.F16
    return Q.Q8_0 if data.shape[-1] % 32 == 0 else Q.F32


def record_fixture(name, gguf_path, original_tok, extra):
    model = load_gguf_model(gguf_path)
    hf_tok = load_gguf_tokenizer(gguf_path)
    exp = {"gguf": os.path.basename(gguf_path), "config": config_values(model.config),
           "n_parameters": model.num_parameters(), "tensors": state_dict_entries(model),
           "chat_template": hf_tok.chat_template, **extra}
    ids = {}
    for s in STRINGS:
        ref = original_tok.encode(s, add_special_tokens=False).ids if original_tok else None
        hf = hf_tok.encode(s, add_special_tokens=False)
        ids[s] = {"original": ref, "transformers_gguf": hf}
    exp["token_ids"] = ids
    exp["transformers_gguf_differs_from_original"] = [s for s, v in ids.items()
                                                      if v["original"] is not None and v["original"] != v["transformers_gguf"]]
    return exp


def build_byte_level_fixture(name, arch, seed, cfg_kw, pre, family, tensor_types, extra_special=(),
                             bos_tok="<|im_start|>", add_bos=False, extra_tensors=()):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    vocab, merges, specials = train_byte_level(extra_special)
    user_defined = ["<think>"]
    tmp = byte_level_original(vocab, merges, specials, user_defined, family)
    tokens, types, gmerges = gguf_tokenizer_metadata(tmp, specials, user_defined)
    ids = {t: i for i, t in enumerate(tokens)}
    bos = (bos_tok, ids[bos_tok]) if add_bos else None
    original = byte_level_original(vocab, merges, specials, user_defined, family, bos=bos)
    original.save(os.path.join(d, "original_tokenizer.json"))
    cfg, state = tiny_model(arch, seed, vocab_size=len(tokens), bos_token_id=ids[bos_tok],
                            eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|im_end|>"], **cfg_kw)
    meta = byte_level_tok_meta(tokens, types, gmerges, pre, ids[bos_tok], ids["<|im_end|>"], ids["<|endoftext|>"],
                               ids["<|im_end|>"], add_bos)
    path = os.path.join(d, "model.gguf")
    write_gguf(path, arch, cfg, state, tensor_types, meta, extra_tensors=extra_tensors)
    exp = record_fixture(name, path, original, {"skipped": [n for n, _ in extra_tensors]})
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1, ensure_ascii=False)
    print(f"{name}: {os.path.getsize(path)} bytes, {len(exp['tensors'])} tensors, "
          f"transformers GGUF tokenizer differs from original on {len(exp['transformers_gguf_differs_from_original'])} strings")
    return cfg, state, meta


def spm_vocab():
    """A cut-down Mistral SentencePiece-BPE vocabulary from the asset: its first 700 ids (<unk>, <s>, </s>,
    the 256 byte tokens, the first merged pieces) plus the single-character pieces those pieces and
    STRINGS use (Mistral keeps characters at the end of its vocabulary), renumbered in the original
    order. Scores as a SentencePiece BPE model has them: minus the rank of the merge that creates the
    piece (characters below all merges), 0 for control and byte tokens. The original tokenizer is the asset's tokenizer.json restricted to that
    vocabulary and to the merges whose pieces and result it keeps."""
    j = json.load(open(os.path.join(ASSETS, "mistral", "tokenizer.json")))
    vocab = j["model"]["vocab"]
    rev = {i: t for t, i in vocab.items()}
    keep = {rev[i] for i in range(700)}
    chars = set("".join(t for t in keep if not t.startswith("<")) + "".join(STRINGS).replace(" ", "\u2581") + "\u2581")
    keep |= {c for c in chars if c in vocab}
    tokens = sorted(keep, key=lambda t: vocab[t])
    types = [2 if t == "<unk>" else 3 if t in ("<s>", "</s>") else 6 if t.startswith("<0x") and len(t) == 6 else 1
             for t in tokens]
    merges = []
    rank = {}
    for m in j["model"]["merges"]:
        a, b = m.split(" ") if isinstance(m, str) else m
        if a in keep and b in keep and a + b in keep:
            rank.setdefault(a + b, len(merges))
            merges.append(f"{a} {b}")
    # A SentencePiece BPE piece's score is minus the step that created it; pieces no merge creates
    # (characters) score below every merge.
    scores = [0.0 if ty != 1 else -float(rank.get(t, 10**6 + vocab[t])) for t, ty in zip(tokens, types)]
    jt = dict(j)
    jt["model"] = dict(j["model"], vocab={t: i for i, t in enumerate(tokens)}, merges=merges)
    original = Tokenizer.from_str(json.dumps(jt))
    return tokens, types, scores, original


def build_spm_fixture():
    name = "spm"
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    tokens, types, scores, original = spm_vocab()
    original.save(os.path.join(d, "original_tokenizer.json"))
    cfg, state = tiny_model("llama", 606, vocab_size=len(tokens), hidden_size=32, intermediate_size=64,
                            num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                            max_position_embeddings=512, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2,
                            tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    meta = [("add_tokenizer_model", "llama"), ("add_tokenizer_pre", "default"), ("add_token_list", tokens),
            ("add_token_scores", scores), ("add_token_types", types), ("add_bos_token_id", 1),
            ("add_eos_token_id", 2), ("add_unk_token_id", 0), ("add_add_bos_token", True),
            ("add_add_eos_token", False)]
    path = os.path.join(d, "model.gguf")
    write_gguf(path, "llama", cfg, state, qtypes_f32, meta)
    exp = record_fixture(name, path, original, {"skipped": []})
    hf_tok = load_gguf_tokenizer(path)
    hj = json.loads(hf_tok.backend_tokenizer.to_str())
    exp["transformers_merges"] = [m if isinstance(m, list) else m.split(" ") for m in hj["model"]["merges"]]
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1, ensure_ascii=False)
    print(f"{name}: {os.path.getsize(path)} bytes; transformers GGUF tokenizer differs from original on "
          f"{len(exp['transformers_gguf_differs_from_original'])} strings")


def build_bad_fixtures():
    vocab, merges, specials = train_byte_level()
    tmp = byte_level_original(vocab, merges, specials, [], "digits")
    tokens, types, gmerges = gguf_tokenizer_metadata(tmp, specials, [])
    kw = dict(vocab_size=len(tokens), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
              num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    cfg, state = tiny_model("llama", 707, **kw)
    meta = byte_level_tok_meta(tokens, types, gmerges, "smollm", 1, 2, 0, 2, False)
    # An architecture mc does not import (llama.cpp's "gpt2" arch name over llama-shaped tensors).
    write_gguf(os.path.join(OUT, "bad_arch.gguf"), "llama", cfg, state, qtypes_f32, meta, arch_name="gpt2")
    # attn_q with 48 rows where the config implies 2 heads × 16 = 32.
    write_gguf(os.path.join(OUT, "bad_shape.gguf"), "llama", cfg, state, qtypes_f32, meta,
               mutate=lambda n, a: np.concatenate([a, a[:16]], 0) if n == "blk.0.attn_q.weight" else a)
    # A byte-level tokenizer with a pre-tokenizer type nobody knows.
    meta_bad = byte_level_tok_meta(tokens, types, gmerges, "no-such-pre", 1, 2, 0, 2, False)
    write_gguf(os.path.join(OUT, "bad_pre.gguf"), "llama", cfg, state, qtypes_f32, meta_bad)
    # A good tiny one for the unit tests (OutputDir behaviour, options).
    write_gguf(os.path.join(OUT, "small_ok.gguf"), "llama", cfg, state, qtypes_f32, meta)
    print("bad fixtures written")


def cmd_tiny(args):
    check_versions()
    os.makedirs(OUT, exist_ok=True)
    rope = lambda theta: {"rope_type": "default", "rope_theta": theta}  # noqa: E731
    build_byte_level_fixture(
        "llama", "llama", 101,
        dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             max_position_embeddings=2048, rms_norm_eps=1e-5, tie_word_embeddings=True, rope_parameters=rope(100000.0)),
        "smollm", "digits", qtypes_llama,
        extra_tensors=[("rope_freqs.weight", np.linspace(1.0, 8.0, 8, dtype=np.float32))])
    build_byte_level_fixture(
        "qwen2", "qwen2", 202,
        dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=False, rope_parameters=rope(1e6)),
        "qwen2", "qwen2", qtypes_mixed)
    build_byte_level_fixture(
        "qwen3", "qwen3", 303,
        dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
             head_dim=128, max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=True,
             rope_parameters=rope(1e6)),
        "qwen2", "qwen2", qtypes_mixed)
    build_byte_level_fixture(
        "lfm2", "lfm2", 404,
        dict(hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
             max_position_embeddings=128000, norm_eps=1e-5, conv_L_cache=3, block_auto_adjust_ff_dim=False,
             layer_types=["conv", "conv", "full_attention", "conv"], tie_word_embeddings=True,
             rope_parameters=rope(1e6)),
        "lfm2", "llama3", qtypes_mixed, extra_special=("<|startoftext|>",), bos_tok="<|startoftext|>", add_bos=True)
    build_spm_fixture()
    build_bad_fixtures()


# ----------------------------------------------------------------------------------------------------
# Real SmolLM2

def real_metadata(path):
    r = gguf.GGUFReader(path)
    f = r.fields
    tokens = [str(bytes(f["tokenizer.ggml.tokens"].parts[i]), "utf-8") for i in f["tokenizer.ggml.tokens"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    merges = [str(bytes(f["tokenizer.ggml.merges"].parts[i]), "utf-8") for i in f["tokenizer.ggml.merges"].data]
    return tokens, types, merges


def smollm2_original_tokenizer(path):
    """SmolLM2's own tokenizer.json structure (HuggingFaceTB/SmolLM2-135M-Instruct): byte-level BPE,
    Digits(individual_digits) + ByteLevel pre-tokenizer, ByteLevel post-processor/decoder, the CONTROL
    tokens as special added tokens. llama.cpp's "smollm" pre-tokenizer ("\\p{N}" then the GPT-2 regex)
    splits the same way. Vocabulary and merges come from the GGUF."""
    tokens, types, merges = real_metadata(path)
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t, ty in zip(tokens, types) if ty == 3])
    return tok


def cmd_real(args):
    check_versions()
    path = args.gguf
    model = load_gguf_model(path)
    cfg = model.config
    tensors = state_dict_entries(model)
    n_params = model.num_parameters()
    n_stored = int(sum(np.prod(v["shape"]) for v in tensors.values()))
    assert n_params == n_stored, (n_params, n_stored)
    hf_tok = load_gguf_tokenizer(path)
    ref = smollm2_original_tokenizer(path)
    ids = {}
    for s in STRINGS:
        ids[s] = {"original": ref.encode(s, add_special_tokens=False).ids,
                  "transformers_gguf": hf_tok.encode(s, add_special_tokens=False)}
    tokens, types, merges = real_metadata(path)
    out = {
        "gguf": os.path.basename(path),
        "gguf_sha256": sha256(open(path, "rb").read()),
        "versions": {**EXPECTED_VERSIONS, "gguf": "0.19.0"},
        "config": config_values(cfg),
        "n_parameters": n_params,
        "n_parameters_source": "transformers AutoModelForCausalLM.from_pretrained(gguf_file=...).num_parameters() "
                               "(tied lm_head counted once) == sum of numel over the state dict without lm_head.weight",
        "tokenizer": {"n_tokens": len(tokens), "n_merges": len(merges),
                      "special": [t for t, ty in zip(tokens, types) if ty == 3],
                      "chat_template": hf_tok.chat_template},
        "tensors": tensors,
        "token_ids": ids,
        "transformers_gguf_differs_from_original": [s for s, v in ids.items() if v["original"] != v["transformers_gguf"]],
    }
    dst = os.path.join(OUT, "smollm2_real.json")
    os.makedirs(OUT, exist_ok=True)
    with open(dst, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    print(f"wrote {dst}: {len(tensors)} tensors, {n_params} parameters; transformers' GGUF tokenizer differs from "
          f"the original structure on {len(out['transformers_gguf_differs_from_original'])} of {len(STRINGS)} strings:")
    for s in out["transformers_gguf_differs_from_original"]:
        print(f"  {s!r}: original {ids[s]['original']} transformers {ids[s]['transformers_gguf']}")


# ----------------------------------------------------------------------------------------------------
# Checks of directories produced by mc

def check_dir(d, exp, dtype, fails):
    from safetensors import safe_open
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        names = set(f.keys())
        if names != set(exp["tensors"]):
            fails.append(f"{d}: tensor names differ: missing {set(exp['tensors']) - names}, extra {names - set(exp['tensors'])}")
        for n in sorted(names & set(exp["tensors"])):
            t = f.get_tensor(n)
            if list(t.shape) != exp["tensors"][n]["shape"]:
                fails.append(f"{d}: {n} shape {list(t.shape)} != {exp['tensors'][n]['shape']}")
                continue
            b = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
            if sha256(b) != exp["tensors"][n][f"sha256_{dtype}"]:
                fails.append(f"{d}: {n} digest differs")
    tj = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    at = transformers.AutoTokenizer.from_pretrained(d)
    diffs = []
    for s, v in exp["token_ids"].items():
        got = tj.encode(s, add_special_tokens=False).ids
        got_auto = at.encode(s, add_special_tokens=False)
        want = v["original"] if v["original"] is not None else v["transformers_gguf"]
        if got != want or got_auto != want:
            diffs.append(s)
            fails.append(f"{d}: {s!r}: tokenizers {got} AutoTokenizer {got_auto} expected {want}")
    model = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    got_cfg = config_values(model.config)
    for k, v in exp["config"].items():
        g = got_cfg.get(k)
        if isinstance(v, float):
            ok = np.float32(v) == np.float32(g)
        else:
            ok = g == v or (isinstance(v, list) and len(v) == 1 and g == v[0])
        if not ok:
            fails.append(f"{d}: config {k}: {g!r} != {v!r}")
    return diffs


def cmd_check_real(args):
    exp = json.load(open(os.path.join(OUT, "smollm2_real.json")))
    fails = []
    check_dir(args.dir, exp, args.dtype, fails)
    for line in fails:
        print("FAIL", line)
    print("transformers' GGUF tokenizer differs from the original structure on:",
          exp["transformers_gguf_differs_from_original"], "(mc follows the original)")
    print("OK" if not fails else f"{len(fails)} failures")
    sys.exit(1 if fails else 0)


def asset_ggufs(prefix):
    """GGUFs carrying only the tokenizers of the real assets, written as llama.cpp would."""
    out = {}
    for name, pre in (("llama3", "llama-bpe"), ("qwen3", "qwen2")):
        j = json.load(open(os.path.join(ASSETS, name, "tokenizer.json")))
        orig = Tokenizer.from_file(os.path.join(ASSETS, name, "tokenizer.json"))
        vocab = orig.get_vocab(with_added_tokens=True)
        n = max(vocab.values()) + 1
        rev = {i: t for t, i in vocab.items()}
        tokens = [rev.get(i, f"[PAD{i}]") for i in range(n)]
        special = {a["content"] for a in j["added_tokens"] if a["special"]}
        user = {a["content"] for a in j["added_tokens"] if not a["special"]}
        types = [3 if t in special else 4 if t in user else 1 for t in tokens]
        merges = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
        path = f"{prefix}/assets_{name}.gguf"
        w = gguf.GGUFWriter(path, "llama")
        w.add_context_length(4096)
        for k, v in byte_level_tok_meta(tokens, types, merges, pre, 0, 0, None, None, False):
            getattr(w, k)(v)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        out[name] = (path, orig)
    return out


def cmd_check_tiny(args):
    fails = []
    for name in ("llama", "qwen2", "qwen3", "lfm2", "spm"):
        d = os.path.join(args.prefix, name)
        if not os.path.isdir(d):
            print(f"skip {name}: {d} missing")
            continue
        exp = json.load(open(os.path.join(OUT, name, "expected.json")))
        check_dir(d, exp, "f32", fails)
        print(f"{name}: checked; transformers GGUF differs from original on {exp['transformers_gguf_differs_from_original']}")
    for line in fails:
        print("FAIL", line)
    print("OK" if not fails else f"{len(fails)} failures")
    sys.exit(1 if fails else 0)


def cmd_assets(args):
    """Writes tokenizer-only GGUFs from the real asset tokenizers (not committed), or with --compare
    checks mc's imports of them (<prefix>/assets_<name>/tokenizer.json) against the original files."""
    os.makedirs(args.prefix, exist_ok=True)
    ggufs = asset_ggufs(args.prefix)
    if not args.compare:
        for name, (path, _) in ggufs.items():
            print("wrote", path)
        return
    fails = 0
    texts = STRINGS + [CORPUS[:2000]]
    for name, (path, orig) in ggufs.items():
        d = f"{args.prefix}/assets_{name}"
        mine = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        hf = load_gguf_tokenizer(path)
        bad = [s for s in texts if mine.encode(s, add_special_tokens=False).ids != orig.encode(s, add_special_tokens=False).ids]
        hf_bad = [s for s in texts if hf.encode(s, add_special_tokens=False) != orig.encode(s, add_special_tokens=False).ids]
        print(f"{name}: mc differs from the original on {len(bad)} strings {bad[:5]}; "
              f"transformers GGUF differs on {len(hf_bad)} {hf_bad[:5]}")
        fails += len(bad)
    sys.exit(1 if fails else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("tiny")
    p = sub.add_parser("real")
    p.add_argument("--gguf", default=REAL_GGUF)
    p = sub.add_parser("check-real")
    p.add_argument("dir")
    p.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    p = sub.add_parser("check-tiny")
    p.add_argument("prefix")
    p = sub.add_parser("assets")
    p.add_argument("prefix")
    p.add_argument("--compare", action="store_true")
    args = ap.parse_args()
    {"tiny": cmd_tiny, "real": cmd_real, "check-real": cmd_check_real, "check-tiny": cmd_check_tiny,
     "assets": cmd_assets}[args.cmd](args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the LoRA goldens in tests/data/lora/ with HF PEFT and transformers as the oracles.

Pinned (tools/requirements.txt): peft==0.21.2, transformers==5.23.0, torch==2.15.0, safetensors==0.8.0.
Run from the repository root (deterministic; rewrites everything it owns in tests/data/lora/):
    /work/tools-venv/bin/python tools/gen_lora_goldens.py
Nothing here calls mc. The tiny models are tests/data/hf/<type> (tools/gen_hf_fixtures.py), loaded with
AutoModelForCausalLM (float32, attn_implementation="eager"), every sequence run as a batch of one.
Adaptable linears and their engine order (the "site" order of src/model/lora.h) per decoder layer:
q_proj, k_proj, v_proj, o_proj (LFM2: self_attn.out_proj), conv.in_proj, conv.out_proj, gate (LFM2 w1),
up (w3), down (w2). "Module order" below = layer, then that site order.

(a) PEFT -> mc: peft_<type>/ and peft_<type>_logits.safetensors, for the 5 fixtures.
    LoraConfig(task_type="CAUSAL_LM", target_modules = every adaptable linear: q_proj k_proj v_proj o_proj
    gate_proj up_proj down_proj, for lfm2 q_proj k_proj v_proj out_proj in_proj w1 w2 w3), then every
    lora_A.weight = randn·0.1 and lora_B.weight = randn·0.02 (torch.manual_seed(ADAPTER_SEED + i), in
    PEFT's named_parameters order), saved with PeftModel.save_pretrained. Per fixture:
      llama   r=4, lora_alpha=8, rank_pattern {"model.layers.1.self_attn.q_proj": 2, "down_proj": 6},
              alpha_pattern {"v_proj": 3.5, "model.layers.0.mlp.gate_proj": 12}
      mistral r=4, lora_alpha=8, lora_dropout=0.1, tensors saved as bfloat16
      qwen2   r=8, lora_alpha=16, tensors saved as float16
      qwen3   r=4, lora_alpha=6, use_rslora=True (scale α/√r), rank_pattern {"o_proj": 8}
      lfm2    r=4, lora_alpha=8, lora_dropout=0.05 (out_proj adapts both the attention and the conv one)
    For the bf16/fp16 adapters the values are rounded to that dtype before the logits are computed, so
    the logits belong to exactly the stored values. The only edits to PEFT's output: target_modules is
    sorted (PEFT writes a Python set in hash order) and the README.md model card is dropped;
    base_model_name_or_path is "tests/data/hf/<type>".
    peft_<type>_logits.safetensors: seq.<b>.tokens (T) I32 and seq.<b>.logits (T, V) F32, b = 0, 1,
    T = 5, 13 (seeded random ids < vocab), PEFT model in eval mode (dropout off). Metadata key
    "mc_golden" (JSON): versions; "dtype" of the adapter tensors; "modules": per LoRA module in module
    order {module, r, in, out, scaling (PEFT's LoraLayer.scaling, a Python float), dropout};
    "lora_effect": max |logits − base logits| / max |base logits| over both sequences (shows the
    adapter matters; every fixture is > 1e-2).

(b) mc -> PEFT: mc_llama/, mc_lfm2/ (what lora_save_peft must reproduce byte for byte),
    mc_<type>_input.safetensors (what the C++ test feeds it) and mc_<type>_logits.safetensors.
    The input holds per module <module>.A (r, in) F32, <module>.B (out, r) F32, <module>.scale (1) F32;
    metadata "mc_golden" JSON {modules (module order), dtype ("F32"/"BF16"), dropout (float),
    base_model_name_or_path}. The adapter directory is written by PEFT itself (get_peft_model with the
    config below, weights copied in, cast to dtype, save_pretrained, target_modules sorted, README.md
    dropped), with the config derived from the modules by mc's documented rule (src/model/lora_io.h):
    alpha = scale·r in double (int when integral); r and lora_alpha = the most common rank / alpha
    (ties: first in module order); rank_pattern / alpha_pattern keyed by full module path for modules
    that differ; target_modules = leaf names when they select exactly the adapted modules, else full
    paths; use_rslora false. The script checks that PEFT, loading the directory again
    (PeftModel.from_pretrained), adapts exactly these modules with scaling == float32(scale) and
    reproduces the stored values, and (F32 case) that its re-save gives identical bytes.
      mc_llama: all 7 targets x 2 layers, F32, dropout 0.05; r 4 (scale 2) except
                layer 1 q_proj r 2 (scale 2 -> alpha 4), down_proj r 8 scale 0.7f, layer 0 v_proj scale 1.25.
      mc_lfm2:  layer 0 conv.in_proj (r 4, scale 2), conv.out_proj (r 4, scale 2), layer 1 self_attn.q_proj
                (r 4, scale 2), feed_forward.w2 (r 2, scale 1.5); BF16, dropout 0. The attention out_proj
                is NOT adapted, so the leaf "out_proj" would over-select: target_modules = full paths.
    mc_<type>_logits.safetensors: as in (a) (seq.<b>.tokens, seq.<b>.logits), PEFT's logits with the
    adapter loaded by PeftModel.from_pretrained; metadata as in (a).

(c) Training gradients: train_<type>.safetensors + train_<type>.json for the 5 fixtures.
    LoraConfig(r=4, lora_alpha=8 (scale 2), lora_dropout=0, every adaptable linear), get_peft_model under
    torch.manual_seed(TRAIN_SEED) (A: PEFT's kaiming_uniform_(a=√5) init), then each B = randn·0.01
    (torch.Generator seeded TRAIN_SEED + 1, module order). The model is then cast to float64
    (model.double(); A, B are the float32 values above, exactly) and run in eval mode (nothing random).
    Batch: 2 sequences of lengths 9 and 14, token ids uniform in [0, vocab) (Generator TRAIN_SEED + 2).
    labels are aligned with the tokens: labels[t] = tokens[t + 1] within the sequence, −100 at each
    sequence's last position and at the extra positions MASKED (seq 0: 0, 3; seq 1: 2, 7, 8) — so a
    row with label −100 contributes nothing. Loss = Σ over both sequences and all t with label ≥ 0 of
    (logsumexp(logits[t]) − logits[t, label]), divided by the number of such t (token-weighted mean over
    the batch; 6 + 10 = 16 targets). In the engine's terms (Model::backward): targets = labels,
    dscale[n] = 1 / n_targets where labels[n] ≥ 0, else 0. dA, dB = ∂loss/∂A, ∂loss/∂B by autograd in float64.
    Then 10 steps of torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
    foreach=False) over all A and B, still float64, on the same batch, from the initial A, B. Per step t
    (1-based), for each parameter p with gradient g: p ← p·(1 − lr·wd); m ← β1 m + (1 − β1) g;
    v ← β2 v + (1 − β2) g²; p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps).
    The same 10 steps are also run in float32 (model and LoRA float32), to show the fp32 spread.
    Tensors (module order; every name below exists for every module):
      tokens (N) I32, labels (N) I32 (−100 = ignored), offsets (3) I32: sequence b is rows
        [offsets[b], offsets[b+1]) (the engine's TokenBatch), N = 23
      token_losses (N) F64: the per-row cross-entropy, 0 where ignored; loss (1) F64
      <module>.lora_A (r, in) F32, <module>.lora_B (out, r) F32: initial values
      <module>.dA (r, in) F64, <module>.dB (out, r) F64: gradients of the loss at the initial values
      adamw.losses (11) F64: the loss before each of the 10 steps, then after the last
      adamw.<module>.lora_A (r, in) F64, adamw.<module>.lora_B (out, r) F64: after the 10 steps
      adamw_f32.losses (11) F32: the same trajectory computed in float32
    train_<type>.json: versions, seeds, hyperparameters (r, lora_alpha, scale, dropout, AdamW), lengths,
    masked positions, n_targets, loss, the module list in order {module, layer, site, r, in, out},
    and the float32-vs-float64 spread (relative differences of the loss, the gradients and the AdamW
    losses), a floor for the C++ tolerances.
"""
import json
import os
import shutil
import sys
import tempfile
from collections import Counter

import numpy as np
import peft
import safetensors
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HF_DIR = os.path.join(REPO, "tests", "data", "hf")
OUT = os.path.join(REPO, "tests", "data", "lora")
EXPECTED_VERSIONS = {"peft": "0.21.2", "transformers": "5.23.0", "torch": "2.15.0", "safetensors": "0.8.0"}
TYPES = ["llama", "mistral", "qwen2", "qwen3", "lfm2"]
ADAPTER_SEED = 1234
TOKEN_SEED = 777
TRAIN_SEED = 2024
LOGIT_LENS = [5, 13]
TRAIN_LENS = [9, 14]
MASKED = [[0, 3], [2, 7, 8]]
ADAMW = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "steps": 10}

LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LFM2_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "in_proj", "w1", "w2", "w3"]
# The engine's site order, by the last two components of the module path.
SITE_ORDER = {
    "self_attn.q_proj": 0, "self_attn.k_proj": 1, "self_attn.v_proj": 2,
    "self_attn.o_proj": 3, "self_attn.out_proj": 3,
    "conv.in_proj": 4, "conv.out_proj": 5,
    "mlp.gate_proj": 6, "feed_forward.w1": 6,
    "mlp.up_proj": 7, "feed_forward.w3": 7,
    "mlp.down_proj": 8, "feed_forward.w2": 8,
}
SITE_NAMES = ["q", "k", "v", "o", "conv_in", "conv_out", "gate", "up", "down"]

PEFT_CASES = {
    "llama": dict(r=4, lora_alpha=8, rank_pattern={"model.layers.1.self_attn.q_proj": 2, "down_proj": 6},
                  alpha_pattern={"v_proj": 3.5, "model.layers.0.mlp.gate_proj": 12}),
    "mistral": dict(r=4, lora_alpha=8, lora_dropout=0.1, _dtype=torch.bfloat16),
    "qwen2": dict(r=8, lora_alpha=16, _dtype=torch.float16),
    "qwen3": dict(r=4, lora_alpha=6, use_rslora=True, rank_pattern={"o_proj": 8}),
    "lfm2": dict(r=4, lora_alpha=8, lora_dropout=0.05),
}

# (b): module suffix -> (r, scale) per layer; dtype; dropout.
MC_CASES = {
    "llama": dict(
        modules=[(l, n) for l in range(2) for n in
                 ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                  "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]],
        special={(1, "self_attn.q_proj"): (2, 2.0), (0, "mlp.down_proj"): (8, 0.7), (1, "mlp.down_proj"): (8, 0.7),
                 (0, "self_attn.v_proj"): (4, 1.25)},
        default=(4, 2.0), dtype="F32", dropout=0.05),
    "lfm2": dict(
        modules=[(0, "conv.in_proj"), (0, "conv.out_proj"), (1, "self_attn.q_proj"), (1, "feed_forward.w2")],
        special={(1, "feed_forward.w2"): (2, 1.5)},
        default=(4, 2.0), dtype="BF16", dropout=0.0),
}


def check_versions():
    got = {"peft": peft.__version__, "transformers": transformers.__version__,
           "torch": torch.__version__.split("+")[0], "safetensors": safetensors.__version__}
    if got != EXPECTED_VERSIONS:
        sys.exit(f"gen_lora_goldens.py: expected {EXPECTED_VERSIONS}, found {got}")
    return got


def one_key_metadata(info):
    """One JSON-valued metadata key keeps the file bytes reproducible (safetensors writes hash order)."""
    return {"mc_golden": json.dumps(info, sort_keys=True)}


def load_model(type_, dtype=torch.float32):
    path = os.path.join(HF_DIR, type_)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager")
    model.name_or_path = f"tests/data/hf/{type_}"  # PEFT records it as base_model_name_or_path
    model.eval()
    return model


def module_key(path):
    parts = path.split(".")
    return int(parts[2]), SITE_ORDER[".".join(parts[-2:])]


def lora_modules(pm):
    """{module path: LoraLayer} of a PeftModel, module path relative to the base model (PEFT's names)."""
    from peft.tuners.lora import LoraLayer
    out = {}
    for name, mod in pm.base_model.model.named_modules():
        if isinstance(mod, LoraLayer):
            out[name] = mod
    return dict(sorted(out.items(), key=lambda kv: module_key(kv[0])))


def adaptable_modules(model):
    """Every nn.Linear inside a decoder layer whose path is an engine site, in module order."""
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and name.startswith("model.layers."):
            if ".".join(name.split(".")[-2:]) in SITE_ORDER:
                out.append(name)
    return sorted(out, key=module_key)


def token_seqs(vocab, lens, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (n,), generator=g).tolist() for n in lens]


@torch.no_grad()
def logits_of(model, seqs):
    return [model(torch.tensor([s]), use_cache=False).logits[0].float().clone() for s in seqs]


def rel_effect(lora_logits, base_logits):
    err = max(float((a - b).abs().max()) for a, b in zip(lora_logits, base_logits))
    scale = max(float(b.abs().max()) for b in base_logits)
    return err / scale


def finish_adapter_dir(path):
    """Sorts target_modules (PEFT writes a set in hash order) and drops PEFT's README.md model card."""
    cfg_path = os.path.join(path, "adapter_config.json")
    with open(cfg_path) as f:
        text = f.read()
    cfg = json.loads(text)
    assert json.dumps(cfg, indent=2, sort_keys=True) == text, "re-dumping PEFT's config changed it"
    if isinstance(cfg.get("target_modules"), list):
        cfg["target_modules"] = sorted(cfg["target_modules"])
    with open(cfg_path, "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True))
    readme = os.path.join(path, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    assert sorted(os.listdir(path)) == ["adapter_config.json", "adapter_model.safetensors"], os.listdir(path)


def write_logits(path, seqs, logits, info):
    tensors = {}
    for b, (s, lg) in enumerate(zip(seqs, logits)):
        tensors[f"seq.{b}.tokens"] = torch.tensor(s, dtype=torch.int32)
        tensors[f"seq.{b}.logits"] = lg.contiguous()
    save_file(tensors, path, metadata=one_key_metadata(info))


def module_info(mods, dropout):
    out = []
    for name, mod in mods.items():
        a = mod.lora_A["default"].weight
        b = mod.lora_B["default"].weight
        out.append({"module": name, "r": int(a.shape[0]), "in": int(a.shape[1]), "out": int(b.shape[0]),
                    "scaling": float(mod.scaling["default"]), "dropout": float(dropout)})
    return out


# ---- (a) PEFT -> mc -------------------------------------------------------------------------------------

def gen_peft(type_, versions):
    case = dict(PEFT_CASES[type_])
    dtype = case.pop("_dtype", torch.float32)
    targets = LFM2_TARGETS if type_ == "lfm2" else LLAMA_TARGETS
    model = load_model(type_)
    vocab = model.config.vocab_size
    seqs = token_seqs(vocab, LOGIT_LENS, TOKEN_SEED)
    base = logits_of(model, seqs)
    expect = adaptable_modules(model)

    cfg = LoraConfig(task_type="CAUSAL_LM", target_modules=targets, **case)
    pm = get_peft_model(model, cfg)
    mods = lora_modules(pm)
    assert list(mods) == expect, (type_, list(mods), expect)
    torch.manual_seed(ADAPTER_SEED + TYPES.index(type_))
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if ".lora_A." in name:
                p.copy_((torch.randn(p.shape) * 0.1).to(dtype).float())
            elif ".lora_B." in name:
                p.copy_((torch.randn(p.shape) * 0.02).to(dtype).float())
    pm.eval()
    lora = logits_of(pm, seqs)
    effect = rel_effect(lora, base)
    assert effect > 1e-2, (type_, effect)

    out_dir = os.path.join(OUT, f"peft_{type_}")
    shutil.rmtree(out_dir, ignore_errors=True)
    if dtype != torch.float32:
        for name, p in pm.named_parameters():
            if ".lora_" in name:
                p.data = p.data.to(dtype)
    pm.save_pretrained(out_dir)
    finish_adapter_dir(out_dir)
    saved = load_file(os.path.join(out_dir, "adapter_model.safetensors"))
    assert all(t.dtype == dtype for t in saved.values()), type_

    info = {"versions": versions, "fixture": type_, "dtype": str(dtype).replace("torch.", ""),
            "modules": module_info(mods, case.get("lora_dropout", 0.0)), "lora_effect": effect,
            "seq_lens": LOGIT_LENS, "token_seed": TOKEN_SEED}
    write_logits(os.path.join(OUT, f"peft_{type_}_logits.safetensors"), seqs, lora, info)
    print(f"peft_{type_}: {len(mods)} modules, dtype {dtype}, lora effect {effect:.3g}")


# ---- (b) mc -> PEFT -------------------------------------------------------------------------------------

def py_number(x):
    """mc's rule: an int when integral and exactly representable as one in double, else a float."""
    return int(x) if float(x).is_integer() and abs(x) < 2.0 ** 53 else float(x)


def most_common(values):
    counts = Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


def mc_config(type_, mods, adaptable, dropout):
    """The LoraConfig kwargs mc's rule (src/model/lora_io.h) gives for mods = [(path, r, scale32)]."""
    ranks = [r for _, r, _ in mods]
    alphas = [float(np.float32(s)) * r for _, r, s in mods]  # exact in double
    r0 = most_common(ranks)
    a0 = most_common(alphas)
    rank_pattern = {p: r for (p, r, _), rr in zip(mods, ranks) if rr != r0}
    alpha_pattern = {p: py_number(a) for (p, _, _), a in zip(mods, alphas) if a != a0}
    paths = {p for p, _, _ in mods}
    leaves = {p.split(".")[-1] for p in paths}
    exact = all(m in paths for m in adaptable if m.split(".")[-1] in leaves)
    targets = sorted(leaves) if exact else sorted(paths)
    return dict(r=r0, lora_alpha=py_number(a0), rank_pattern=rank_pattern, alpha_pattern=alpha_pattern,
                target_modules=targets, lora_dropout=dropout, use_rslora=False)


def gen_mc(type_, versions):
    case = MC_CASES[type_]
    dtype = {"F32": torch.float32, "BF16": torch.bfloat16}[case["dtype"]]
    model = load_model(type_)
    adaptable = adaptable_modules(model)
    vocab = model.config.vocab_size
    seqs = token_seqs(vocab, LOGIT_LENS, TOKEN_SEED)
    base = logits_of(model, seqs)
    mods = []
    for layer, suffix in case["modules"]:
        r, scale = case["special"].get((layer, suffix), case["default"])
        mods.append((f"model.layers.{layer}.{suffix}", r, float(np.float32(scale))))
    mods.sort(key=lambda m: module_key(m[0]))
    kwargs = mc_config(type_, mods, adaptable, case["dropout"])
    print(f"mc_{type_}: config {kwargs}")

    # Input tensors for the C++ side.
    g = torch.Generator().manual_seed(ADAPTER_SEED + 100 + TYPES.index(type_))
    named = dict(model.named_modules())
    inputs = {}
    for path, r, scale in mods:
        w = named[path].weight
        inputs[f"{path}.A"] = torch.randn((r, w.shape[1]), generator=g) * 0.1
        inputs[f"{path}.B"] = torch.randn((w.shape[0], r), generator=g) * 0.02
        inputs[f"{path}.scale"] = torch.tensor([scale], dtype=torch.float32)
    meta = {"modules": [p for p, _, _ in mods], "dtype": case["dtype"], "dropout": case["dropout"],
            "base_model_name_or_path": f"tests/data/hf/{type_}"}
    save_file(inputs, os.path.join(OUT, f"mc_{type_}_input.safetensors"), metadata=one_key_metadata(meta))

    # PEFT writes the directory.
    pm = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **kwargs))
    got = lora_modules(pm)
    assert list(got) == [p for p, _, _ in mods], (type_, list(got))
    with torch.no_grad():
        for path, r, scale in mods:
            got[path].lora_A["default"].weight.copy_(inputs[f"{path}.A"])
            got[path].lora_B["default"].weight.copy_(inputs[f"{path}.B"])
            assert float(np.float32(got[path].scaling["default"])) == scale, (path, got[path].scaling)
    if dtype != torch.float32:
        for name, p in pm.named_parameters():
            if ".lora_" in name:
                p.data = p.data.to(dtype)
    out_dir = os.path.join(OUT, f"mc_{type_}")
    shutil.rmtree(out_dir, ignore_errors=True)
    pm.save_pretrained(out_dir)
    finish_adapter_dir(out_dir)

    # PEFT loads it back: exactly these modules, the fp32 scales, the stored values.
    fresh = load_model(type_)
    lm = PeftModel.from_pretrained(fresh, out_dir)
    lm.eval()
    loaded = lora_modules(lm)
    assert list(loaded) == [p for p, _, _ in mods], (type_, list(loaded))
    for path, r, scale in mods:
        mod = loaded[path]
        assert float(np.float32(mod.scaling["default"])) == scale, (path, mod.scaling)
        for key, t in (("A", mod.lora_A["default"].weight), ("B", mod.lora_B["default"].weight)):
            want = inputs[f"{path}.{key}"].to(dtype).float()
            assert t.dtype == torch.float32 and torch.equal(t.detach(), want), (path, key, t.dtype)
    if dtype == torch.float32:
        with tempfile.TemporaryDirectory() as tmp:
            lm.save_pretrained(tmp)
            with open(os.path.join(tmp, "adapter_model.safetensors"), "rb") as f1, \
                    open(os.path.join(out_dir, "adapter_model.safetensors"), "rb") as f2:
                assert f1.read() == f2.read(), "PEFT's re-save differs"
    lora = logits_of(lm, seqs)
    effect = rel_effect(lora, base)
    assert effect > 1e-2, (type_, effect)
    info = {"versions": versions, "fixture": type_, "dtype": str(dtype).replace("torch.", ""),
            "modules": module_info(loaded, case["dropout"]), "lora_effect": effect,
            "seq_lens": LOGIT_LENS, "token_seed": TOKEN_SEED}
    write_logits(os.path.join(OUT, f"mc_{type_}_logits.safetensors"), seqs, lora, info)
    print(f"mc_{type_}: {len(mods)} modules, lora effect {effect:.3g}")


# ---- (c) training gradients -----------------------------------------------------------------------------

def batch_loss(pm, seqs, labels):
    """Token-weighted mean next-token CE over the batch, and the per-row losses (0 where ignored)."""
    total = None
    rows = []
    n = 0
    for s, lab in zip(seqs, labels):
        logits = pm(torch.tensor([s]), use_cache=False).logits[0]  # (T, V)
        lab_t = torch.tensor(lab)
        keep = lab_t >= 0
        ce = torch.logsumexp(logits, dim=-1) - logits.gather(1, lab_t.clamp(min=0)[:, None])[:, 0]
        ce = torch.where(keep, ce, torch.zeros_like(ce))
        rows.append(ce.detach())
        part = ce.sum()
        total = part if total is None else total + part
        n += int(keep.sum())
    return total / n, torch.cat(rows), n


def make_train_model(type_, dtype):
    targets = LFM2_TARGETS if type_ == "lfm2" else LLAMA_TARGETS
    model = load_model(type_)
    torch.manual_seed(TRAIN_SEED)
    pm = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, lora_dropout=0.0,
                                          target_modules=targets))
    mods = lora_modules(pm)
    g = torch.Generator().manual_seed(TRAIN_SEED + 1)
    with torch.no_grad():
        for mod in mods.values():
            w = mod.lora_B["default"].weight
            w.copy_(torch.randn(w.shape, generator=g) * 0.01)
    pm.eval()
    if dtype == torch.float64:
        pm.double()
    return pm, mods


def lora_params(mods):
    ps = []
    for mod in mods.values():
        ps += [mod.lora_A["default"].weight, mod.lora_B["default"].weight]
    return ps


def adamw_run(pm, mods, seqs, labels):
    params = lora_params(mods)
    for p in pm.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"],
                            weight_decay=ADAMW["weight_decay"], foreach=False)
    losses = []
    for _ in range(ADAMW["steps"]):
        opt.zero_grad()
        loss, _, _ = batch_loss(pm, seqs, labels)
        losses.append(float(loss))
        loss.backward()
        opt.step()
    with torch.no_grad():
        losses.append(float(batch_loss(pm, seqs, labels)[0]))
    return losses


def max_rel(a, b):
    a = a.double()
    b = b.double()
    return float((a - b).abs().max() / b.abs().max())


def gen_train(type_, versions):
    pm, mods = make_train_model(type_, torch.float64)
    vocab = pm.base_model.model.config.vocab_size
    seqs = token_seqs(vocab, TRAIN_LENS, TRAIN_SEED + 2)
    labels = []
    for s, masked in zip(seqs, MASKED):
        lab = s[1:] + [-100]
        for t in masked:
            lab[t] = -100
        labels.append(lab)

    # Initial values (float32 before the cast; the cast to float64 is exact).
    pm32, mods32 = make_train_model(type_, torch.float32)
    init = {}
    for name, mod in mods32.items():
        init[f"{name}.lora_A"] = mod.lora_A["default"].weight.detach().clone()
        init[f"{name}.lora_B"] = mod.lora_B["default"].weight.detach().clone()
        assert torch.equal(mods[name].lora_A["default"].weight.float(), init[f"{name}.lora_A"])
        assert torch.equal(mods[name].lora_B["default"].weight.float(), init[f"{name}.lora_B"])

    tensors = {}
    tensors["tokens"] = torch.tensor(sum(seqs, []), dtype=torch.int32)
    tensors["labels"] = torch.tensor(sum(labels, []), dtype=torch.int32)
    tensors["offsets"] = torch.tensor([0, len(seqs[0]), len(seqs[0]) + len(seqs[1])], dtype=torch.int32)
    tensors.update(init)

    # Gradients in float64 (and float32 for the spread).
    def grads(model, ms):
        for p in model.parameters():
            p.requires_grad_(False)
        for p in lora_params(ms):
            p.requires_grad_(True)
            p.grad = None
        loss, rows, n = batch_loss(model, seqs, labels)
        loss.backward()
        return loss, rows, n

    loss, rows, n_targets = grads(pm, mods)
    loss32, _, _ = grads(pm32, mods32)
    tensors["loss"] = torch.tensor([float(loss.detach())], dtype=torch.float64)
    tensors["token_losses"] = rows.double()
    grad_spread = 0.0
    for name, mod in mods.items():
        dA = mod.lora_A["default"].weight.grad.detach().clone()
        dB = mod.lora_B["default"].weight.grad.detach().clone()
        assert dA.abs().max() > 0 and dB.abs().max() > 0, name
        tensors[f"{name}.dA"] = dA
        tensors[f"{name}.dB"] = dB
        grad_spread = max(grad_spread, max_rel(mods32[name].lora_A["default"].weight.grad, dA),
                          max_rel(mods32[name].lora_B["default"].weight.grad, dB))

    losses = adamw_run(pm, mods, seqs, labels)
    losses32 = adamw_run(pm32, mods32, seqs, labels)
    tensors["adamw.losses"] = torch.tensor(losses, dtype=torch.float64)
    tensors["adamw_f32.losses"] = torch.tensor(losses32, dtype=torch.float32)
    for name, mod in mods.items():
        tensors[f"adamw.{name}.lora_A"] = mod.lora_A["default"].weight.detach().clone()
        tensors[f"adamw.{name}.lora_B"] = mod.lora_B["default"].weight.detach().clone()
    assert losses[-1] < losses[0], losses

    module_list = []
    for name, mod in mods.items():
        layer, site = module_key(name)
        a = mod.lora_A["default"].weight
        b = mod.lora_B["default"].weight
        module_list.append({"module": name, "layer": layer, "site": SITE_NAMES[site], "r": int(a.shape[0]),
                            "in": int(a.shape[1]), "out": int(b.shape[0])})
    info = {
        "versions": versions, "fixture": type_, "train_seed": TRAIN_SEED,
        "lora": {"r": 4, "lora_alpha": 8, "scale": 2.0, "lora_dropout": 0.0,
                 "target_modules": LFM2_TARGETS if type_ == "lfm2" else LLAMA_TARGETS,
                 "A_init": "PEFT kaiming_uniform_(a=sqrt(5)) under torch.manual_seed(train_seed)",
                 "B_init": "randn * 0.01, torch.Generator seeded train_seed + 1, module order"},
        "seq_lens": TRAIN_LENS, "masked_positions": MASKED, "n_targets": n_targets,
        "loss_definition": "sum of CE over rows with label >= 0, both sequences / n_targets; float64",
        "loss": float(loss),
        "adamw": dict(ADAMW, foreach=False, dtype="float64 (adamw_f32.losses: float32)"),
        "modules": module_list,
        "fp32_vs_fp64": {"loss_rel": abs(float(loss32) - float(loss)) / abs(float(loss)),
                         "grad_max_rel": grad_spread,
                         "adamw_losses_max_rel": max(abs(a - b) / abs(b) for a, b in zip(losses32, losses))},
    }
    save_file(tensors, os.path.join(OUT, f"train_{type_}.safetensors"), metadata=one_key_metadata(info))
    with open(os.path.join(OUT, f"train_{type_}.json"), "w") as f:
        f.write(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(f"train_{type_}: {len(mods)} modules, loss {float(loss):.6f}, adamw {losses[0]:.6f} -> {losses[-1]:.6f}, "
          f"fp32 spread {info['fp32_vs_fp64']}")


def main():
    versions = check_versions()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    for t in TYPES:
        gen_peft(t, versions)
    for t in MC_CASES:
        gen_mc(t, versions)
    for t in TYPES:
        gen_train(t, versions)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Golden fixtures for `mc model capacity`, `mc analyze ...` and `mc adapter analyze`
(tests/golden/cli_geometry_test.cpp, tests/real/capacity_real_test.cpp).

Writes tests/data/capacity/:
  * golden.json - every expected value, each computed here by an independent reference:
      - capacity of every 2-D tensor of the tiny transformers fixtures in tests/data/hf/<type>/ (numpy float64
        SVD, the formulas of spec/surface.md §4.11 and spec/training.md §2 as tools/gen_geometry_goldens.py
        writes them out, numpy.linalg.matrix_rank, weightwatcher 0.7.7's alpha) and the model medians;
      - the same for three SmolLM2-135M-Instruct matrices: read from the imported model directory when it
        exists, otherwise dequantized from the Q4_1 GGUF by gguf 0.19.0 and rounded to bf16 exactly as
        `mc model import-gguf` stores them (row permutations of Q/K leave the singular values unchanged);
      - PEFT adapters made here with peft 0.21.2 (see below): the scale from PEFT's own LoraLayer.scaling,
        ΔW checked against PEFT's get_delta_weight, and every lora-svd / adapter-analyze number in numpy;
      - intrinsic dimension of .npy / .safetensors point clouds by scikit-dimension 0.5.0 (TwoNN(), MLE());
      - CKA of .npy activation pairs by a direct numpy CKA (tools/gen_geometry_goldens.py's formulas);
      - Spearman correlations with ties by scipy.stats.spearmanr.
  * adapter_llama/ - PEFT LoraConfig(r=4, lora_alpha=8, target_modules=[q_proj, v_proj]) on the llama fixture,
    B initialised N(0, 0.02²) (PEFT starts B at 0, which would make ΔW = 0);
  * adapter_llama_patterns/ - use_rslora, rank_pattern and alpha_pattern, targets q/v/down_proj, B ~ N(0, 0.2²) (updates larger than W: intruders);
  * adapter_qwen2/ - r=4 q/v adapter of the qwen2 fixture (an adapter for another model);
  * *.npy, acts.safetensors - activation matrices for intrinsic-dimension and cka;
  * probes.txt (12 probe texts) and tok256/tokenizer.json, a byte-level BPE tokenizer with the 256 byte tokens
    and no merges (built with tokenizers 0.23.3) that fits every tiny fixture's vocabulary;
  * activation profiles from transformers 5.23.0 (fp32 eager forward; forward hooks on every decoder layer give
    the residual stream after each block): per-layer TwoNN of the mean-pooled states (scikit-dimension),
    the logit-lens entropy of the last token with and without the final norm, TwoNN over one prompt's
    tokens per layer (expansion ratio), and layer-by-layer linear CKA between the llama and qwen3 fixtures;
    the same profiles for SmolLM2-135M-Instruct (the imported directory) when it exists.

Pinned (tools/requirements.txt): numpy 2.4.6, scipy 1.17.1, scikit-dimension 0.5.0, weightwatcher 0.7.7,
torch 2.15.0, transformers 5.23.0, tokenizers 0.23.3, peft 0.21.2, safetensors 0.8.0, gguf 0.19.0.

Usage (from the repository root; deterministic, rewrites the fixtures):
    /work/tools-venv/bin/python tools/gen_capacity_goldens.py
"""
import argparse
import json
import logging
import os
import shutil
import sys
import warnings
from importlib.metadata import version

import numpy as np
import scipy.stats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
OUT_DIR = os.path.join(ROOT, "tests", "data", "capacity")
HF_DIR = os.path.join(ROOT, "tests", "data", "hf")
sys.path.insert(0, HERE)
import gen_geometry_goldens as gg  # noqa: E402  (shared oracle formulas: layer_geometry, ww_alpha, CKA, ...)

EPS32 = gg.EPS32
FIXTURES = ["llama", "mistral", "qwen2", "qwen3", "lfm2"]
# Shuttleworth et al. 2024 intruder dimensions: top-k of W + dW, cosine threshold.
INTRUDER_K, INTRUDER_EPS = 10, 0.5
AMPLIFICATION_K = 64
SMOLLM2_MATRICES = [  # (HF name, GGUF name)
    ("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"),
    ("model.layers.15.mlp.down_proj.weight", "blk.15.ffn_down.weight"),
    ("model.layers.29.mlp.gate_proj.weight", "blk.29.ffn_gate.weight"),
]


def load_checkpoint(d):
    """Every tensor of an HF directory (all shards) as float32 numpy arrays (bf16 converted exactly)."""
    from safetensors.torch import load_file
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            for k, v in load_file(os.path.join(d, f)).items():
                out[k] = (v.float().numpy(), str(v.dtype).replace("torch.", ""))
    return out


# --------------------------------------------------------------------------------------------------
# capacity of weight matrices
# --------------------------------------------------------------------------------------------------

def capacity_case(name, w32):
    m, n = w32.shape
    w = w32.astype(np.float64)
    s = np.linalg.svd(w, compute_uv=False)
    e = s ** 2
    geo = gg.layer_geometry(s, m, n)
    tol = s[0] * max(m, n) * EPS32
    rank = gg.count_above(s, tol, f"{name} numerical rank")
    assert rank == int(np.linalg.matrix_rank(w, tol=tol))
    nr32 = gg.count_above(s, s[0] * np.sqrt(gg.EPS32), f"{name} rank f32")
    nr16 = gg.count_above(s, s[0] * np.sqrt(gg.EPS16), f"{name} rank f16")
    rr, ratio = gg.recommended_rank(s)
    pr = float(s.sum() ** 2 / e.sum())
    case = {
        "name": name, "shape": [m, n],
        "sigma_max": float(np.linalg.norm(w, 2)), "frobenius_norm": float(np.linalg.norm(w, "fro")),
        "nuclear_norm": float(np.linalg.norm(w, "nuc")),
        "stable_rank": float(np.linalg.norm(w, "fro") ** 2 / np.linalg.norm(w, 2) ** 2),
        "effective_rank": geo["erank"], "participation_ratio": pr,
        "numerical_rank": rank, "numerical_rank_f32": nr32, "numerical_rank_f16": nr16,
        "null_space_dim_f32": min(m, n) - nr32, "null_space_fraction": (min(m, n) - nr32) / min(m, n),
        "capacity_utilization": pr / min(m, n),
        "structural_rank": geo["k"], "sigma_k": geo["sigma_k"], "spectral_gap": geo["spectral_gap"],
        "tail_dims": geo["tail_dims"], "decay_ratio": geo["decay_ratio"],
        "recommended_rank": rr, "recommended_gap_ratio": ratio,
        "condition_number": float(s[0] / s[rank - 1]),
    }
    case["alpha"] = gg.ww_alpha(w32) if min(m, n) >= 8 else None
    return case


def median(v):
    v = [x for x in v if x is not None and np.isfinite(x)]
    return float(np.median(v)) if v else float("nan")


def model_capacity(tensors):
    mats = []
    total = 0
    for name in sorted(tensors):
        arr, _ = tensors[name]
        total += arr.size
        if arr.ndim == 2:
            mats.append(capacity_case(name, arr))
    dims = {}
    for c in mats:
        d = min(c["shape"])
        dims[d] = dims.get(d, 0) + 1
    ref = max(dims, key=lambda d: (dims[d], d))
    summary = {
        "total_parameters": int(total),
        "analyzed_parameters": int(sum(c["shape"][0] * c["shape"][1] for c in mats)),
        "analyzed_matrices": len(mats),
        "median_sigma_max": median([c["sigma_max"] for c in mats]),
        "median_stable_rank": median([c["stable_rank"] for c in mats]),
        "median_effective_rank": median([c["effective_rank"] for c in mats]),
        "median_participation_ratio": median([c["participation_ratio"] for c in mats]),
        "median_alpha": median([c["alpha"]["alpha"] for c in mats if c["alpha"]]),
        "alpha_fitted": sum(1 for c in mats if c["alpha"]),
        "mean_capacity_utilization": float(np.mean([c["capacity_utilization"] for c in mats])),
        "total_tail_dims": int(sum(c["tail_dims"] for c in mats)),
        "targetable_matrices": int(sum(1 for c in mats if c["tail_dims"] > 0)),
        "reference_rank_dimension": int(ref),
    }
    return {"matrices": mats, "summary": summary}


def smollm2_cases():
    model_dir = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct")
    gguf_path = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    out = []
    if os.path.isfile(os.path.join(model_dir, "model.safetensors")):
        from safetensors import safe_open
        with safe_open(os.path.join(model_dir, "model.safetensors"), "pt") as f:
            for hf, _ in SMOLLM2_MATRICES:
                out.append(capacity_case(hf, f.get_tensor(hf).float().numpy()))
        source = "models/SmolLM2-135M-Instruct (imported by mc model import-gguf)"
    else:
        import gguf
        from gguf.quants import dequantize
        reader = gguf.GGUFReader(gguf_path)
        tensors = {t.name: t for t in reader.tensors}
        for hf, gname in SMOLLM2_MATRICES:
            t = tensors[gname]
            w = dequantize(t.data, t.tensor_type).astype(np.float32)  # (out, in)
            w = gg.bf16_bits_to_f32(gg.to_bf16_bits(w)).reshape(w.shape)
            out.append(capacity_case(hf, w))
        source = ("SmolLM2-135M-Instruct.Q4_1.gguf dequantized by gguf 0.19.0, rounded to bf16 (RNE) as import-gguf "
                  "stores it")
    return {"source": source, "matrices": out}


# --------------------------------------------------------------------------------------------------
# PEFT adapters
# --------------------------------------------------------------------------------------------------

def make_adapter(base_dir, out_name, config_kwargs, seed, b_std):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    cfg = LoraConfig(lora_dropout=0.0, task_type="CAUSAL_LM", **config_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = get_peft_model(model, cfg)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.copy_(b_std * torch.randn(p.shape, generator=g))
    out_dir = os.path.join(OUT_DIR, out_name)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    pm.save_pretrained(out_dir, safe_serialization=True)
    # Store a repository-relative base path so the fixture does not depend on where it was generated.
    cfg_path = os.path.join(out_dir, "adapter_config.json")
    with open(cfg_path) as f:
        c = json.load(f)
    c["base_model_name_or_path"] = os.path.relpath(base_dir, ROOT)
    with open(cfg_path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=False)
        f.write("\n")
    readme = os.path.join(out_dir, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    return pm, out_dir


def subspace_overlap(basis_cols, x_cols):
    q = x_cols.shape[1]
    return float(np.linalg.norm(basis_cols.T @ x_cols, "fro") ** 2 / q)


def lora_module_case(module, layer, w32, a32, b32, scale, peft_delta):
    m, n = w32.shape
    r = a32.shape[0]
    w = w32.astype(np.float64)
    delta = scale * (b32.astype(np.float64) @ a32.astype(np.float64))
    # PEFT's own ΔW (float32 arithmetic) must agree with the formula to float32 rounding.
    assert np.max(np.abs(delta - peft_delta)) <= 1e-5 * np.max(np.abs(delta)), module
    d = min(m, n)
    ud, sd, vdt = np.linalg.svd(delta, full_matrices=False)
    tol_d = sd[0] * max(m, n) * EPS32
    q = gg.count_above(sd, tol_d, f"{module} delta rank")
    assert q == r
    e = sd ** 2
    p = e / e.sum()
    p = p[p > 0]
    case = {
        "module": module, "layer": layer, "shape": [m, n], "r": r, "scale": scale,
        "a_frobenius": float(np.linalg.norm(a32.astype(np.float64))),
        "b_frobenius": float(np.linalg.norm(b32.astype(np.float64))),
        "delta_singular_values": sd[:min(r, d)].tolist(),
        "delta_frobenius": float(np.linalg.norm(delta, "fro")), "delta_spectral": float(sd[0]),
        "delta_effective_rank": float(np.exp(-np.sum(p * np.log(p)))), "delta_rank": q,
    }
    uw, sw, vwt = np.linalg.svd(w, full_matrices=False)
    wp = w + delta
    up, sp, vpt = np.linalg.svd(wp, full_matrices=False)
    tol_w, tol_p = sw[0] * max(m, n) * EPS32, sp[0] * max(m, n) * EPS32
    rb = gg.count_above(sw, tol_w, f"{module} rank W")
    ra = gg.count_above(sp, tol_p, f"{module} rank W'")
    case.update({
        "base_sigma_max": float(sw[0]), "base_frobenius": float(np.linalg.norm(w, "fro")),
        "spectral_ratio": float(sd[0] / sw[0]),
        "relative_change": float(np.linalg.norm(delta, "fro") / np.linalg.norm(w, "fro")),
        "rank_before": rb, "rank_after": ra,
        "left_top_overlap": subspace_overlap(uw[:, :q], ud[:, :q]),
        "left_tail_overlap": subspace_overlap(uw[:, d - q:], ud[:, :q]),
        "left_chance": q / m,
        "right_top_overlap": subspace_overlap(vwt[:q].T, vdt[:q].T),
        "right_tail_overlap": subspace_overlap(vwt[d - q:].T, vdt[:q].T),
        "right_chance": q / n,
    })
    so = np.linalg.norm(uw[:, :rb].T @ delta, "fro") / np.linalg.norm(delta, "fro")
    case["subspace_overlap"] = float(so)
    case["null_space_component"] = float(np.sqrt(max(0.0, 1 - so ** 2)))
    case["weyl_utilization"] = float(np.max(np.abs(sp - sw)) / sd[0])
    ka = min(AMPLIFICATION_K, d)
    amp = np.linalg.norm(delta @ vwt[:ka].T, axis=0)
    case["amplification_cv"] = float(np.std(amp) / np.mean(amp))
    case["condition_ratio"] = float((sp[0] / sp[ra - 1]) / (sw[0] / sw[rb - 1]))
    ki = min(INTRUDER_K, d)
    sims = np.max(np.abs(up[:, :ki].T @ uw), axis=1)
    for v in sims:
        gg.assert_clear(v, INTRUDER_EPS, f"{module} intruder similarity")
    case["intruder_dimensions"] = int(np.sum(sims < INTRUDER_EPS))
    case["min_intruder_similarity"] = float(np.min(sims))
    return case


def adapter_case(pm, out_dir, base_dir):
    import torch
    from peft.tuners.lora import LoraLayer
    from safetensors.torch import load_file
    base = load_checkpoint(base_dir)
    saved = load_file(os.path.join(out_dir, "adapter_model.safetensors"))
    modules = []
    total_params = 0
    for name, mod in pm.named_modules():
        if not isinstance(mod, LoraLayer) or "default" not in mod.lora_A:
            continue
        # name: base_model.model.<module>
        module = name[len("base_model.model."):]
        a = saved[f"base_model.model.{module}.lora_A.weight"].numpy()
        b = saved[f"base_model.model.{module}.lora_B.weight"].numpy()
        scale = float(mod.scaling["default"])
        with torch.no_grad():
            peft_delta = mod.get_delta_weight("default").double().numpy()
        w32, _ = base[module + ".weight"]
        layer = int(module.split(".layers.")[1].split(".")[0]) if ".layers." in module else -1
        modules.append(lora_module_case(module, layer, w32, a, b, scale, peft_delta))
        total_params += a.size + b.size
    modules.sort(key=lambda c: c["module"])
    with open(os.path.join(out_dir, "adapter_config.json")) as f:
        cfg = json.load(f)
    return {"dir": os.path.relpath(out_dir, OUT_DIR), "base": os.path.relpath(base_dir, ROOT),
            "r": cfg["r"], "lora_alpha": cfg["lora_alpha"], "use_rslora": cfg["use_rslora"],
            "total_params": int(total_params), "modules": modules}


def adapters():
    llama = os.path.join(HF_DIR, "llama")
    out = []
    pm, d = make_adapter(llama, "adapter_llama", dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]), 11, 0.02)
    out.append(adapter_case(pm, d, llama))
    pm, d = make_adapter(llama, "adapter_llama_patterns",
                         dict(r=4, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "v_proj", "down_proj"],
                              rank_pattern={"model.layers.1.self_attn.q_proj": 2, "down_proj": 6},
                              alpha_pattern={"v_proj": 3}), 12, 0.2)
    out.append(adapter_case(pm, d, llama))
    qwen2 = os.path.join(HF_DIR, "qwen2")
    pm, d = make_adapter(qwen2, "adapter_qwen2", dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]), 13, 0.02)
    out.append({"dir": "adapter_qwen2", "base": os.path.relpath(qwen2, ROOT), "note": "for the qwen2 fixture; "
                "its v_proj is (16, 64) where llama's is (32, 64)"})
    return out


# --------------------------------------------------------------------------------------------------
# activation files: intrinsic dimension and CKA
# --------------------------------------------------------------------------------------------------

def write_npy(name, arr, npy_version=None):
    path = os.path.join(OUT_DIR, name)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, np.ascontiguousarray(arr), version=npy_version, allow_pickle=False)
    return name


def activation_files(rng):
    from safetensors.numpy import save_file
    ids = []
    x5 = gg.subspace(rng, 400, 5, 16)  # float32 (400, 16) on a 5-dim subspace
    sph = gg.sphere(rng, 300, 2, 12).astype(np.float64)  # float64 (300, 12) on S^2
    files = {"subspace_d5.npy": write_npy("subspace_d5.npy", x5),
             "sphere_d2_f8_v2.npy": write_npy("sphere_d2_f8_v2.npy", sph, (2, 0))}
    probe = (rng.standard_normal((40, 24)) @ np.diag(0.85 ** np.arange(24))).astype(np.float32)
    save_file({"layer.3": probe, "layer.7": np.tanh(probe @ rng.standard_normal((24, 24)).astype(np.float32))},
              os.path.join(OUT_DIR, "acts.safetensors"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fname, x, tensor in [("subspace_d5.npy", x5, None), ("sphere_d2_f8_v2.npy", sph, None),
                                 ("acts.safetensors", probe, "layer.3")]:
            xd = x.astype(np.float64)
            ids.append({"file": fname, "tensor": tensor, "shape": list(x.shape),
                        "twonn": gg.skdim_twonn(np.unique(xd, axis=0)),
                        "mle": gg.skdim_mle(np.unique(xd, axis=0), "mle")})
    # CKA pair: same 48 inputs, two representations; plus a mismatched third with 47 rows.
    xa = rng.standard_normal((48, 20))
    xb = np.tanh(xa @ rng.standard_normal((20, 12)) / 3.0) + 0.2 * rng.standard_normal((48, 12))
    write_npy("cka_a.npy", xa.astype(np.float32))
    write_npy("cka_b.npy", xb.astype(np.float32))
    write_npy("cka_c_47rows.npy", xb[:47].astype(np.float32))
    xa32, xb32 = xa.astype(np.float32).astype(np.float64), xb.astype(np.float32).astype(np.float64)
    ckas = []
    for est in ("biased", "unbiased"):
        ckas.append(gg.cka_values(xa32, xb32, "linear", est))
        ckas.append(gg.cka_values(xa32, xb32, "rbf", est, 1.0))
    return files, ids, {"a": "cka_a.npy", "b": "cka_b.npy", "mismatched": "cka_c_47rows.npy", "results": ckas}


PROBES = [
    "The river froze early that winter.",
    "A prime number has exactly two divisors.",
    "She tuned the old violin by ear.",
    "Photosynthesis turns light into sugar.",
    "The committee postponed the vote.",
    "Multiply any number by zero and you get zero.",
    "The lighthouse keeper wrote down the weather.",
    "Copper conducts electricity well.",
    "Bees dance to point at flowers.",
    "Two eggs, a cup of flour and a pinch of salt.",
    "The bishop moves diagonally.",
    "Why does the moon look larger near the horizon?",
]
EXPANSION_PROMPTS = ["The quick brown fox jumps over the lazy dog, twice.", "Hi"]


def byte_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    alphabet = ByteLevel.alphabet()  # the 256 byte symbols, in no particular order
    b2u = {}
    # GPT-2 bytes_to_unicode order, so that id = byte value.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    k = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + k)
            k += 1
    for b, c in zip(bs, cs):
        b2u[b] = chr(c)
    assert set(b2u.values()) == set(alphabet)
    vocab = {b2u[b]: b for b in range(256)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    out = os.path.join(OUT_DIR, "tok256")
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    return tok


def run_layers(model, ids):
    """Residual stream after every decoder block for one sequence: list of (T, D) float64 arrays."""
    import torch
    outs = []
    hooks = [layer.register_forward_hook(lambda m, i, o: outs.append((o[0] if isinstance(o, tuple) else o)[0]
                                                                     .detach().double().numpy()))
             for layer in model.model.layers]
    with torch.no_grad():
        model(torch.tensor([ids]))
    for h in hooks:
        h.remove()
    return outs


def twonn_or_nan(x):
    try:
        u = np.unique(x, axis=0)
        if len(u) < 3:
            return float("nan")
        return gg.skdim_twonn(u)
    except Exception:  # noqa: BLE001  (skdim raises on degenerate inputs; mc reports NaN there)
        return float("nan")


def profiles(model_dir, tok_encode, probes, entropy_probes, expansion_prompts):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    L = model.config.num_hidden_layers
    per_probe = [run_layers(model, tok_encode(t)) for t in probes]
    pooled = [np.stack([pp[l].mean(axis=0) for pp in per_probe]) for l in range(L)]
    ids = [twonn_or_nan(pooled[l]) if len(probes) >= 10 else float("nan") for l in range(L)]
    finite = [(l, v) for l, v in enumerate(ids) if np.isfinite(v)]
    mn = min(v for _, v in finite)
    at = next(l for l, v in finite if v == mn)
    lo = hi = at
    while lo > 0 and np.isfinite(ids[lo - 1]) and ids[lo - 1] < 2 * mn:
        lo -= 1
    while hi + 1 < L and np.isfinite(ids[hi + 1]) and ids[hi + 1] < 2 * mn:
        hi += 1
    dim = {"probes": probes, "layer_ids": ids, "min": mn, "max": max(v for _, v in finite),
           "mean": float(np.mean([v for _, v in finite])), "highway": list(range(lo, hi + 1)),
           "compression_ratio": mn / model.config.hidden_size, "final": finite[-1][1],
           "recovery_ratio": finite[-1][1] / mn}
    # Entropy lens: last token after each block, through the final norm (or not) and the unembedding.
    ent = {}
    for final_norm in (True, False):
        per = np.zeros((L, len(entropy_probes)))
        for p, t in enumerate(entropy_probes):
            hs = run_layers(model, tok_encode(t))
            for l in range(L):
                h = torch.tensor(hs[l][-1:], dtype=torch.float32)
                with torch.no_grad():
                    if final_norm:
                        h = model.model.norm(h)
                    z = model.lm_head(h).double()
                    per[l, p] = float(-(torch.softmax(z, -1) * torch.log_softmax(z, -1)).sum())
        H = per.mean(axis=1)
        n = len(H)
        i = np.arange(n)
        ent["final_norm" if final_norm else "raw"] = {
            "entropy": H.tolist(), "per_probe": per.tolist(),
            "slope": float(np.polyfit(i, H, 1)[0]), "peak_layer_fraction": float(np.argmax(H) / (n - 1)),
            "monotonicity": float(scipy.stats.spearmanr(i, H).statistic),
            "early_late_ratio": float(H[:n // 2].mean() / H[n // 2:].mean()),
            "vocab_size": int(model.lm_head.weight.shape[0])}
    ent["probes"] = entropy_probes
    # Expansion ratio: TwoNN over each prompt's token states per layer.
    exp = []
    for t in expansion_prompts:
        ids_t = tok_encode(t)
        if len(ids_t) < 4:
            exp.append({"prompt": t, "token_count": len(ids_t), "classification": "insufficient_tokens"})
            continue
        hs = run_layers(model, ids_t)
        dims = [twonn_or_nan(hs[l]) for l in range(L)]
        fin = [(l, v) for l, v in enumerate(dims) if np.isfinite(v)]
        peak_l, peak = max(fin, key=lambda lv: (lv[1], -lv[0]))
        exp.append({"prompt": t, "token_count": len(ids_t), "classification": "ok", "layer_dims": dims,
                    "peak_layer": peak_l, "peak_dim": peak, "final_dim": dims[-1], "expansion_ratio": peak / dims[-1]})
    return {"dimension_profile": dim, "entropy_trajectory": ent, "expansion_ratio": exp}, pooled


def activation_profiles():
    tok = byte_tokenizer()
    with open(os.path.join(OUT_DIR, "probes.txt"), "w") as f:
        f.write("\n".join(PROBES) + "\n")
    enc = lambda t: tok.encode(t).ids  # noqa: E731
    llama, pooled_llama = profiles(os.path.join(HF_DIR, "llama"), enc, PROBES, PROBES[:4], EXPANSION_PROMPTS)
    _, pooled_qwen3 = profiles(os.path.join(HF_DIR, "qwen3"), enc, PROBES, PROBES[:4], [])
    cka = [[gg.cka_values(a, b, "linear", "biased")["cka"] for b in pooled_qwen3] for a in pooled_llama]
    out = {"tokenizer": "tok256/tokenizer.json", "probes_file": "probes.txt", "llama": llama,
           "layer_cka_llama_qwen3": cka}
    model_dir = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct")
    if os.path.isfile(os.path.join(model_dir, "tokenizer.json")):
        from tokenizers import Tokenizer
        real = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        enc_real = lambda t: real.encode(t, add_special_tokens=True).ids  # noqa: E731
        out["smollm2"], _ = profiles(model_dir, enc_real, PROBES, PROBES[:6], EXPANSION_PROMPTS[:1])
    return out


def spearman_cases():
    cases = []
    for x, y in [([0, 1, 2, 3, 4], [1.0, 2.0, 2.0, 5.0, 4.0]), ([0, 1, 2, 3], [4.0, 3.0, 3.0, 1.0]),
                 ([1, 2, 3, 4, 5, 6], [2.5, 2.5, 2.5, 1.0, 7.0, 7.0])]:
        cases.append({"x": x, "y": y, "rho": float(scipy.stats.spearmanr(x, y).statistic)})
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    logging.disable(logging.WARNING)
    os.makedirs(OUT_DIR, exist_ok=True)
    rng = np.random.default_rng(20250117)
    fixtures = {}
    for t in FIXTURES:
        fixtures[t] = model_capacity(load_checkpoint(os.path.join(HF_DIR, t)))
    _, ids, cka = activation_files(rng)
    golden = {
        "generator": "tools/gen_capacity_goldens.py",
        "versions": {p: version(p) for p in ("numpy", "scipy", "scikit-dimension", "weightwatcher", "torch",
                                             "transformers", "tokenizers", "peft", "safetensors", "gguf")},
        "intruder": {"k": INTRUDER_K, "eps": INTRUDER_EPS},
        "fixtures": fixtures,
        "smollm2": smollm2_cases(),
        "adapters": adapters(),
        "intrinsic_dimension": ids,
        "cka": cka,
        "spearman": spearman_cases(),
        "activations": activation_profiles(),
    }
    with open(os.path.join(OUT_DIR, "golden.json"), "w") as f:
        json.dump(gg.finite_or_string(golden), f, indent=1, allow_nan=False)
        f.write("\n")
    total = 0
    for dp, _, fs in os.walk(OUT_DIR):
        total += sum(os.path.getsize(os.path.join(dp, x)) for x in fs)
    print(f"wrote {os.path.normpath(OUT_DIR)}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

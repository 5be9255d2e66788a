#!/usr/bin/env python3
"""Writes the tiny Hugging Face checkpoints in tests/data/hf/ and their oracle values (expected.json).

Pinned oracle: transformers==5.23.0, torch==2.15.0, safetensors==0.8.0 (see tools/requirements.txt).
Run:  /work/tools-venv/bin/python tools/gen_hf_fixtures.py            (from the repository root)

What it writes (everything is regenerated from scratch, deterministically, fixed seeds):
  tests/data/hf/<type>/        one randomly initialised model per model_type, saved with HF's own
                               save_pretrained (safetensors, Transformers-v5 config.json spelling:
                               rope_parameters, dtype). llama is sharded (model.safetensors.index.json
                               + 3 shards). Weights: llama and qwen3 float32, mistral, qwen2 and lfm2
                               bfloat16.
  tests/data/hf/variants/<n>/  config.json only: a base fixture's config rewritten by this script into an
                               older spelling (rope_theta + rope_scaling, torch_dtype; LFM2's legacy
                               aliases block_ff_dim, full_attn_idxs, theta, tie_embedding). transformers
                               5.23 only writes the v5 spelling, so these are JSON edits; the script
                               checks that transformers loads each one to the same effective model as its
                               base (and that the base's weights load into it with no missing or
                               unexpected keys).
  tests/data/hf/expected.json  per fixture and variant (a variant has "variant_of" and repeats its base's
                               tensor list, since it is checked against the base's weights), the effective values read from the INSTANTIATED
                               transformers model (module sizes, the rope parameters the rotary module
                               uses, tie by storage identity, norm eps from the norm modules) and, per
                               tensor as saved (read back with safetensors), name, file, shape, dtype,
                               sum and sum of |x| in float64, and the first 4 values as float32 bits.
"""
import copy
import json
import os
import shutil
import sys

import safetensors
import torch
import transformers
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "data", "hf")

EXPECTED_VERSIONS = {"transformers": "5.23.0", "torch": "2.15.0", "safetensors": "0.8.0"}

# One entry per fixture: config class kwargs, storage dtype, seed, shard size (None = one file).
FIXTURES = {
    "llama": dict(
        seed=101, dtype=torch.float32, max_shard_size="150KB",
        config=dict(
            model_type="llama", vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
            rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 64},
            bos_token_id=1, eos_token_id=[2, 3], tie_word_embeddings=False)),
    "mistral": dict(
        seed=202, dtype=torch.bfloat16, max_shard_size=None,
        config=dict(
            model_type="mistral", vocab_size=320, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
            num_attention_heads=6, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
            sliding_window=32, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)),
    "qwen2": dict(
        seed=303, dtype=torch.bfloat16, max_shard_size=None,
        config=dict(
            model_type="qwen2", vocab_size=300, hidden_size=64, intermediate_size=112, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=1024, rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, use_sliding_window=False,
            bos_token_id=298, eos_token_id=299, tie_word_embeddings=True)),
    "qwen3": dict(
        seed=404, dtype=torch.float32, max_shard_size=None,
        config=dict(
            model_type="qwen3", vocab_size=384, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=1024,
            rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            attention_bias=False, bos_token_id=380, eos_token_id=[381, 382], tie_word_embeddings=True)),
    "lfm2": dict(
        seed=505, dtype=torch.bfloat16, max_shard_size=None,
        config=dict(
            # block_auto_adjust_ff_dim: effective MLP width = 32·ceil(int(2·200/3) / 32) = 160, not 200.
            model_type="lfm2", vocab_size=512, hidden_size=64, intermediate_size=200, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128000, norm_eps=1e-5,
            conv_L_cache=3, conv_bias=False, block_auto_adjust_ff_dim=True, block_ffn_dim_multiplier=1.0,
            block_multiple_of=32, layer_types=["conv", "full_attention"],
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            pad_token_id=0, bos_token_id=1, eos_token_id=7, tie_word_embeddings=True)),
}


def check_versions():
    got = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
           "safetensors": safetensors.__version__}
    if got != EXPECTED_VERSIONS:
        sys.exit(f"gen_hf_fixtures.py: expected {EXPECTED_VERSIONS}, found {got}")


def randomize(model, seed):
    """Replaces every parameter with seeded random values so that checksums (and any later forward test)
    see distinct, non-trivial numbers: matrices N(0, 0.05²), norm weights 1 + N(0, 0.1²), biases N(0, 0.05²)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.ndim == 1 and "norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.05 * noise)


def f32_hex(x):
    return "0x%08x" % (torch.tensor([x], dtype=torch.float32).view(torch.int32).item() & 0xFFFFFFFF)


def saved_tensors(directory):
    """Every tensor in the directory's safetensors files, as stored, sorted by name."""
    files = sorted(f for f in os.listdir(directory) if f.endswith(".safetensors"))
    out = []
    for fname in files:
        with safe_open(os.path.join(directory, fname), framework="pt") as f:
            for name in f.keys():
                t = f.get_tensor(name)
                flat = t.reshape(-1).to(torch.float64)
                first = t.reshape(-1)[:4].to(torch.float32).tolist()
                out.append({
                    "name": name,
                    "file": fname,
                    "shape": list(t.shape),
                    "dtype": {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}[t.dtype],
                    "sum": flat.sum().item(),
                    "sum_abs": flat.abs().sum().item(),
                    "first": [f32_hex(v) for v in first],
                })
    return sorted(out, key=lambda e: e["name"])


def effective(model):
    """The architecture the instantiated transformers model actually has, read from its modules."""
    cfg = model.config
    base = model.model
    layers = base.layers
    is_lfm2 = cfg.model_type == "lfm2"

    attn_layer = next(l for l in layers if hasattr(l, "self_attn"))
    attn = attn_layer.self_attn
    head_dim = attn.head_dim
    o_proj = attn.out_proj if is_lfm2 else attn.o_proj
    mlp = attn_layer.feed_forward if is_lfm2 else attn_layer.mlp
    gate = mlp.w1 if is_lfm2 else mlp.gate_proj
    final_norm = base.embedding_norm if is_lfm2 else base.norm
    tied = model.lm_head.weight.data_ptr() == base.embed_tokens.weight.data_ptr()

    rope = dict(base.rotary_emb.config.rope_parameters)
    if any(isinstance(v, dict) for v in rope.values()):  # nested by layer type
        rope = dict(rope["full_attention"])
    rope_out = {"rope_type": base.rotary_emb.rope_type, "rope_theta": float(rope["rope_theta"])}
    for k in ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"):
        if k in rope and rope[k] is not None:
            rope_out[k] = rope[k]

    def ids(v):
        if v is None:
            return []
        return list(v) if isinstance(v, (list, tuple)) else [v]

    e = {
        "model_type": cfg.model_type,
        "architecture": type(model).__name__,
        "num_hidden_layers": len(layers),
        "hidden_size": base.embed_tokens.embedding_dim,
        "vocab_size": base.embed_tokens.num_embeddings,
        "num_attention_heads": attn.q_proj.out_features // head_dim,
        "num_key_value_heads": attn.k_proj.out_features // head_dim,
        "head_dim": head_dim,
        "intermediate_size": cfg.intermediate_size,
        "ffn_dim": gate.out_features,
        "rms_norm_eps": final_norm.variance_epsilon,
        "rope": rope_out,
        "tie_word_embeddings": tied,
        "qkv_bias": attn.q_proj.bias is not None,
        "o_bias": o_proj.bias is not None,
        "mlp_bias": gate.bias is not None,
        "layer_types": list(cfg.layer_types) if getattr(cfg, "layer_types", None) is not None else None,
        "layer_is_attention": [hasattr(l, "self_attn") for l in layers],
        "max_position_embeddings": cfg.max_position_embeddings,
        "sliding_window": getattr(cfg, "sliding_window", None) or 0,
        "dtype": str(cfg.dtype).replace("torch.", "") if cfg.dtype is not None else "",
        "bos_token_id": ids(cfg.bos_token_id),
        "eos_token_id": ids(cfg.eos_token_id),
        "pad_token_id": ids(cfg.pad_token_id),
    }
    if is_lfm2:
        conv_layer = next(l for l in layers if hasattr(l, "conv"))
        e["conv_L_cache"] = conv_layer.conv.conv.kernel_size[0]
        e["conv_bias"] = conv_layer.conv.conv.bias is not None
    return e


def load_checked(weights_dir, config=None):
    kwargs = {"output_loading_info": True, "dtype": "auto"}
    if config is not None:
        kwargs["config"] = config
    model, info = AutoModelForCausalLM.from_pretrained(weights_dir, **kwargs)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        sys.exit(f"gen_hf_fixtures.py: loading {weights_dir} reported {bad}")
    return model


def build_fixture(name, spec):
    directory = os.path.join(OUT, name)
    torch.manual_seed(spec["seed"])
    cfg_kwargs = dict(spec["config"])
    model_type = cfg_kwargs.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg_kwargs)
    model = AutoModelForCausalLM.from_config(config)
    randomize(model, spec["seed"])
    model = model.to(spec["dtype"])
    save_kwargs = {}
    if spec["max_shard_size"]:
        save_kwargs["max_shard_size"] = spec["max_shard_size"]
    model.save_pretrained(directory, **save_kwargs)

    reloaded = load_checked(directory)
    # The reload must reproduce the in-memory weights bit for bit.
    want = model.state_dict()
    for k, v in reloaded.state_dict().items():
        if not torch.equal(v, want[k]):
            sys.exit(f"gen_hf_fixtures.py: {name}: reloaded {k} differs")
    return reloaded


def write_variant(name, base, edit):
    """Rewrites base/config.json with `edit` into variants/<name>/config.json."""
    with open(os.path.join(OUT, base, "config.json")) as f:
        cfg = json.load(f)
    cfg = edit(copy.deepcopy(cfg))
    directory = os.path.join(OUT, "variants", name)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    return directory


def to_v4_spelling(cfg):
    """Transformers-v4 spelling: rope_theta + rope_scaling (null when default), torch_dtype."""
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = None if rope.get("rope_type") == "default" else rope
    cfg["torch_dtype"] = cfg.pop("dtype")
    cfg.pop("transformers_version", None)
    return cfg


def to_llama_v4(cfg):
    """As older Llama configs: no head_dim (derived as hidden_size / num_attention_heads)."""
    cfg = to_v4_spelling(cfg)
    cfg.pop("head_dim")
    return cfg


def to_qwen2_v4(cfg):
    """As the Qwen2.5 configs on the Hub: no layer_types, and a sliding_window value that is inert
    because use_sliding_window is false."""
    cfg = to_v4_spelling(cfg)
    cfg.pop("layer_types")
    cfg["sliding_window"] = 4096
    cfg["max_window_layers"] = 1
    assert cfg["use_sliding_window"] is False
    return cfg


def to_lfm2_legacy(cfg):
    """The spelling of the original LiquidAI LFM2 configs: block_ff_dim, full_attn_idxs, theta,
    tie_embedding, norm_eps, torch_dtype; block_auto_adjust_ff_dim stays true."""
    cfg["block_ff_dim"] = cfg.pop("intermediate_size")
    cfg["full_attn_idxs"] = [i for i, t in enumerate(cfg.pop("layer_types")) if t == "full_attention"]
    # transformers 5.23 ignores `theta` (4.x read it); we keep the default value so both agree.
    cfg["theta"] = cfg.pop("rope_parameters")["rope_theta"]
    cfg["tie_embedding"] = cfg.pop("tie_word_embeddings")
    cfg["torch_dtype"] = cfg.pop("dtype")
    cfg.pop("transformers_version", None)
    assert cfg["block_auto_adjust_ff_dim"] is True and "norm_eps" in cfg
    return cfg


VARIANTS = {
    "llama_v4": ("llama", to_llama_v4),
    "qwen2_v4": ("qwen2", to_qwen2_v4),
    "lfm2_legacy": ("lfm2", to_lfm2_legacy),
}


def main():
    check_versions()
    torch.use_deterministic_algorithms(True)
    if os.path.isdir(OUT):
        for entry in os.listdir(OUT):
            if entry != "README.md":
                path = os.path.join(OUT, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    os.makedirs(OUT, exist_ok=True)

    expected = {
        "generator": "tools/gen_hf_fixtures.py",
        "versions": EXPECTED_VERSIONS,
        "fixtures": {},
    }
    for name, spec in FIXTURES.items():
        model = build_fixture(name, spec)
        files = sorted(f for f in os.listdir(os.path.join(OUT, name)) if f.endswith(".safetensors"))
        expected["fixtures"][name] = {
            "config": f"{name}/config.json",
            "weights": name,
            "sharded": os.path.exists(os.path.join(OUT, name, "model.safetensors.index.json")),
            "files": files,
            "effective": effective(model),
            "tensors": saved_tensors(os.path.join(OUT, name)),
        }

    for name, (base, edit) in VARIANTS.items():
        directory = write_variant(name, base, edit)
        config = AutoConfig.from_pretrained(directory)
        model = load_checked(os.path.join(OUT, base), config=config)
        eff = effective(model)
        base_eff = expected["fixtures"][base]["effective"]
        if eff != base_eff:
            diff = {k: (eff.get(k), base_eff.get(k)) for k in set(eff) | set(base_eff) if eff.get(k) != base_eff.get(k)}
            sys.exit(f"gen_hf_fixtures.py: variant {name} differs from {base}: {diff}")
        expected["fixtures"][name] = {
            "config": f"variants/{name}/config.json",
            "weights": base,
            "variant_of": base,
            "sharded": expected["fixtures"][base]["sharded"],
            "files": expected["fixtures"][base]["files"],
            "effective": eff,
            "tensors": expected["fixtures"][base]["tensors"],  # the base's weights, listed again
        }

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()

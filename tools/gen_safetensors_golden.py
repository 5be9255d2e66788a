#!/usr/bin/env python3
"""Golden fixtures for mc's safetensors reader and writer (tests/golden/safetensors_golden_test.cpp).

Oracles (pinned, see tools/requirements.txt): safetensors==0.8.0, torch==2.15.0, numpy==2.4.6,
transformers==5.23.0. Run with the tools venv:

    /work/tools-venv/bin/python tools/gen_safetensors_golden.py [--out tests/data/safetensors]

Writes into --out:
  pypi_written.safetensors   every dtype mc reads (F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL),
                             a 0-element tensor, scalar shapes [], odd sizes, special float values and a
                             name that needs JSON escaping, written by safetensors.torch.save_file with
                             metadata {"format": "pt"}.
  pypi_written.json          what Python sees in that file: per tensor dtype, shape, the raw element bits
                             (hex, little-endian value of each element) and the value converted to f32
                             (hex bits; numpy astype(float32), torch .float() for bf16).
  rounding.json              f32 inputs (hex bits) and their bf16 / f16 bits from torch
                             .to(torch.bfloat16) / .to(torch.float16).
  sharded/                   a tiny Llama saved by transformers save_pretrained in two shards:
                             model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json.
  sharded_expected.json      every tensor of that checkpoint: shard file, dtype, shape, f32 bits.
Everything is deterministic (fixed seeds); re-running reproduces the same bytes.
"""
import argparse
import json
import math
import os
import re
import shutil
import struct
import tempfile

import numpy as np
import safetensors
import safetensors.torch
import torch
import transformers

# torch dtype -> (safetensors name, unsigned integer dtype of the same width for reading raw bits)
DTYPES = {
    torch.float64: ("F64", np.uint64),
    torch.float32: ("F32", np.uint32),
    torch.float16: ("F16", np.uint16),
    torch.bfloat16: ("BF16", np.uint16),
    torch.int64: ("I64", np.uint64),
    torch.int32: ("I32", np.uint32),
    torch.int16: ("I16", np.uint16),
    torch.int8: ("I8", np.uint8),
    torch.uint64: ("U64", np.uint64),
    torch.uint32: ("U32", np.uint32),
    torch.uint16: ("U16", np.uint16),
    torch.uint8: ("U8", np.uint8),
    torch.bool: ("BOOL", np.uint8),
}


def f32_from_bits(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def hex_bits(arr_uint):
    width = arr_uint.dtype.itemsize * 2
    return ["%0*x" % (width, int(v)) for v in arr_uint.reshape(-1)]


def raw_bits(t):
    """The element bit patterns of tensor t as an unsigned numpy array."""
    name, udt = DTYPES[t.dtype]
    flat = t.contiguous().reshape(-1)
    if t.dtype == torch.bfloat16:
        return flat.view(torch.int16).numpy().view(np.uint16)
    if t.dtype == torch.bool:
        return flat.numpy().astype(np.uint8)
    return flat.numpy().view(udt)


def as_f32(t):
    """The tensor converted to f32 as Python sees it."""
    flat = t.contiguous().reshape(-1)
    if t.dtype == torch.bfloat16:
        return flat.float().numpy()
    with np.errstate(over="ignore"):  # 1e300 becomes inf in f32, as it should
        return flat.numpy().astype(np.float32)


def make_tensors():
    rng = np.random.default_rng(20240601)
    g = torch.Generator().manual_seed(1234)
    inf, nan = float("inf"), float("nan")
    t = {}
    t["f64.vec"] = torch.tensor([math.pi, -0.0, 1e-310, 1e300, -2.5, 1.0 + 2.0**-30], dtype=torch.float64)
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    f32.reshape(-1)[:7] = [inf, -inf, nan, 1e-40, -0.0, np.finfo(np.float32).max, np.finfo(np.float32).tiny]
    t["f32.mat"] = torch.from_numpy(f32)
    t["f16.odd"] = torch.tensor([65504.0, 6e-8, -0.0, inf, nan, 1.0 / 3.0, -1.5], dtype=torch.float16)
    bf = torch.randn(2, 3, 3, generator=g)
    bf.view(-1)[:4] = torch.tensor([inf, -3.0e38, 1e-39, -0.0])
    t["bf16.cube"] = bf.to(torch.bfloat16)
    t["i64"] = torch.tensor([-(2**63), 2**63 - 1, 0, -1, 123456789012345], dtype=torch.int64)
    t["i32"] = torch.tensor([[-(2**31), 2**31 - 1], [7, -7]], dtype=torch.int32)
    t["i16"] = torch.tensor([-32768, 32767, -1], dtype=torch.int16)
    t["i8"] = torch.tensor([-128, 127, 0, -1, 5], dtype=torch.int8)
    t["u64"] = torch.from_numpy(np.array([0, 2**64 - 1, 2**53 + 1], dtype=np.uint64))
    t["u32"] = torch.from_numpy(np.array([0, 2**32 - 1, 16777217], dtype=np.uint32))
    t["u16"] = torch.from_numpy(np.array([0, 65535], dtype=np.uint16))
    t["u8"] = torch.tensor([[0, 255, 17]], dtype=torch.uint8)
    t["bool"] = torch.tensor([True, False, True, True, False])
    t["empty"] = torch.zeros(2, 0, 3, dtype=torch.float32)
    t["empty.bf16"] = torch.zeros(0, dtype=torch.bfloat16)
    t["scalar"] = torch.tensor(42.5, dtype=torch.float32)
    t["scalar.i8"] = torch.tensor(-3, dtype=torch.int8)
    t['weird "name"\\ \n\t\x01\x1f\x7f/\u00e9\u20ac\U0001f600'] = torch.tensor([0.25], dtype=torch.float16)
    t["odd.f32"] = torch.from_numpy(rng.standard_normal((7, 3)).astype(np.float32))
    return t


def describe(name, tensor):
    dt, _ = DTYPES[tensor.dtype]
    return {
        "name": name,
        "dtype": dt,
        "shape": list(tensor.shape),
        "bits": hex_bits(raw_bits(tensor)),
        "f32_bits": hex_bits(as_f32(tensor).view(np.uint32)),
    }


def write_plain(out):
    tensors = make_tensors()
    path = os.path.join(out, "pypi_written.safetensors")
    safetensors.torch.save_file(tensors, path, metadata={"format": "pt"})
    # Read back with PyPI to record what it sees (and prove it reads its own file).
    back = safetensors.torch.load_file(path)
    with safetensors.safe_open(path, "pt") as f:
        metadata = f.metadata()
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    entries = []
    for name in sorted(back):
        d = describe(name, back[name])
        d["data_offsets"] = header[name]["data_offsets"]
        entries.append(d)
    doc = {
        "generator": "tools/gen_safetensors_golden.py",
        "versions": versions(),
        "file": "pypi_written.safetensors",
        "metadata": metadata,
        "header_bytes": n,
        "tensors": entries,
    }
    dump_json(doc, os.path.join(out, "pypi_written.json"))


def write_rounding(out):
    rng = np.random.default_rng(7)
    edge = [
        0x00000000, 0x80000000, 0x3f800000, 0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff, 0xbf808000,
        0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, 0x7f800000, 0xff800000, 0x7fc00000,
        0x00000001, 0x00008000, 0x00018000, 0x007fffff, 0x00800000, 0x80008000,
        0x477fe000, 0x477ff000, 0x477fefff, 0x33000000, 0x33000001, 0x387fc000, 0x38800000, 0x38801000,
    ]
    normal = (rng.standard_normal(256) * np.exp2(rng.integers(-30, 30, 256))).astype(np.float32).view(np.uint32)
    patterns = rng.integers(0, 2**32, 512, dtype=np.uint64).astype(np.uint32)
    bits = np.concatenate([np.array(edge, dtype=np.uint32), normal, patterns])
    x = torch.from_numpy(f32_from_bits(bits).copy())
    bf = x.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    f16 = x.to(torch.float16).view(torch.int16).numpy().view(np.uint16)
    doc = {
        "generator": "tools/gen_safetensors_golden.py",
        "versions": versions(),
        "note": "NaN inputs: compare NaN-ness only (torch canonicalises NaN payloads)",
        "f32_bits": hex_bits(bits),
        "bf16_bits": hex_bits(bf),
        "f16_bits": hex_bits(f16),
    }
    dump_json(doc, os.path.join(out, "rounding.json"))


def write_sharded(out):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    model = transformers.LlamaForCausalLM(cfg).to(torch.bfloat16)
    dest = os.path.join(out, "sharded")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, max_shard_size="8KB")
        files = sorted(os.listdir(tmp))
        shards = [f for f in files if f.endswith(".safetensors")]
        assert shards == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], files
        for f in shards + ["model.safetensors.index.json"]:
            shutil.copyfile(os.path.join(tmp, f), os.path.join(dest, f))
    with open(os.path.join(dest, "model.safetensors.index.json")) as f:
        index = json.load(f)
    entries = []
    for name, shard in sorted(index["weight_map"].items()):
        with safetensors.safe_open(os.path.join(dest, shard), "pt") as f:
            t = f.get_tensor(name)
        d = describe(name, t)
        del d["bits"]
        d["file"] = shard
        entries.append(d)
    doc = {"generator": "tools/gen_safetensors_golden.py", "versions": versions(), "tensors": entries}
    dump_json(doc, os.path.join(out, "sharded_expected.json"))


def dump_json(doc, path):
    """Indented JSON with each list of numbers or hex strings kept on one line."""
    text = json.dumps(doc, indent=1)
    text = re.sub(r"\[[^\[\]{}]*\]", lambda m: re.sub(r"\s+", "", m.group(0)), text)
    with open(path, "w") as f:
        f.write(text + "\n")


def versions():
    return {"safetensors": safetensors.__version__, "torch": torch.__version__.split("+")[0],
            "numpy": np.__version__, "transformers": transformers.__version__}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "safetensors"))
    args = ap.parse_args()
    assert safetensors.__version__ == "0.8.0", safetensors.__version__
    os.makedirs(args.out, exist_ok=True)
    write_plain(args.out)
    write_rounding(args.out)
    write_sharded(args.out)


if __name__ == "__main__":
    main()

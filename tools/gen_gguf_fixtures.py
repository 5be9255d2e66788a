#!/usr/bin/env python3
"""Writes the GGUF fixtures of tests/golden/gguf_golden_test.cpp and the per-tensor digests of
tests/real/gguf_real_test.cpp.

Oracle: PyPI gguf==0.19.0 (GGUFWriter writes the files, GGUFReader reads them back,
gguf.quants.dequantize computes the expected values), numpy==2.4.6. Run from the repository root:

    /work/tools-venv/bin/python tools/gen_gguf_fixtures.py            # fixtures + real digests
    /work/tools-venv/bin/python tools/gen_gguf_fixtures.py --no-real  # fixtures only

Outputs in tests/data/gguf/:
  <type>.gguf            one file per dequantizable type (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1,
                         q4_k, q5_k, q6_k), all carrying the same metadata (every value type, arrays of
                         every type, strings with arbitrary bytes, arrays of arrays)
  <type>.expected.bin    the dequantized values of its tensors, little-endian f32, in tensor order
  v2_q4_0.gguf           q4_0.gguf with the version field set to 2 (v2 and v3 share the layout)
  align64.gguf           general.alignment = 64 and tensors whose sizes are not multiples of 64
  q2_k.gguf              a Q2_K tensor (parses, but mc must refuse to dequantize it)
  metadata_only.gguf     no tensors
  fixtures.json          per file: version, alignment, data offset, metadata (types and exact values:
                         floats as bit patterns, strings as hex bytes), tensors (ne, type, offset,
                         nbytes, where their values sit in the .expected.bin, SHA-256 of those bytes)
  smollm2_q4_1.digests.json
                         for models/SmolLM2-135M-Instruct.Q4_1.gguf: file SHA-256, scalar metadata,
                         array metadata (type, length, SHA-256 of the items' bytes) and, per tensor,
                         SHA-256 of gguf.quants.dequantize(data, type).astype(float32).tobytes()

Quantized blocks are random bytes whose f16 scale fields are random finite halves (zeros, subnormals
and negatives included), so every nibble and bit pattern is exercised; for the types gguf-py can
quantize there is also a tensor quantized from Gaussian data.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "gguf"
REAL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"

# Byte offsets of the f16 scale fields inside one block, per type (see gguf/quants.py dequantize_blocks).
F16_FIELDS = {
    QT.Q4_0: [0], QT.Q4_1: [0, 2], QT.Q5_0: [0], QT.Q5_1: [0, 2], QT.Q8_0: [0],
    QT.Q2_K: [80, 82], QT.Q4_K: [0, 2], QT.Q5_K: [0, 2], QT.Q6_K: [208],
}
QUANTIZABLE = {QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0}
DEQUANT_TYPES = [QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q4_K, QT.Q5_K, QT.Q6_K]


# ---- metadata: what we write, and how fixtures.json describes it -------------------------------------

def f32_bits(x: float) -> str:
    return "0x%08x" % struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x: float) -> str:
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


def describe(value, vtype: VT, sub_type: VT | None = None) -> dict:
    """The JSON form of one value exactly as GGUFWriter._pack_val encodes it."""
    if vtype == VT.ARRAY:
        if sub_type is None:
            sub_type = VT.UINT8 if isinstance(value, bytes) else VT.get_type(value[0])
        return {"type": "ARRAY", "elem_type": sub_type.name, "items": [describe(v, sub_type) for v in value]}
    if vtype == VT.STRING:
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return {"type": "STRING", "hex": raw.hex()}
    if vtype == VT.FLOAT32:
        return {"type": "FLOAT32", "bits": f32_bits(value)}
    if vtype == VT.FLOAT64:
        return {"type": "FLOAT64", "bits": f64_bits(value)}
    if vtype == VT.BOOL:
        return {"type": "BOOL", "value": bool(value)}
    return {"type": vtype.name, "value": int(value)}


def common_metadata() -> list[tuple[str, object, VT, VT | None]]:
    """(key, value, type, array element type) in file order, after general.architecture."""
    return [
        ("general.name", "mc gguf fixture", VT.STRING, None),
        ("mc.u8", 200, VT.UINT8, None),
        ("mc.i8", -100, VT.INT8, None),
        ("mc.u16", 60000, VT.UINT16, None),
        ("mc.i16", -30000, VT.INT16, None),
        ("mc.u32", 4000000000, VT.UINT32, None),
        ("mc.i32", -2000000000, VT.INT32, None),
        ("mc.u64", 2**64 - 1, VT.UINT64, None),
        ("mc.i64", -(2**63), VT.INT64, None),
        ("mc.f32", 0.1, VT.FLOAT32, None),
        ("mc.f32_neg_inf", float("-inf"), VT.FLOAT32, None),
        ("mc.f64", 1.0 / 3.0, VT.FLOAT64, None),
        ("mc.f64_nan", float("nan"), VT.FLOAT64, None),
        ("mc.bool_true", True, VT.BOOL, None),
        ("mc.bool_false", False, VT.BOOL, None),
        ("mc.string", "h\u00e9llo w\u00f6rld \u2713 \U0001F642", VT.STRING, None),
        ("mc.string_empty", "", VT.STRING, None),
        ("mc.cl\u00e9_utf8", "non-ASCII key", VT.STRING, None),
        ("mc.arr.u8", [0, 1, 255], VT.ARRAY, VT.UINT8),
        ("mc.arr.i8", [-128, 0, 127], VT.ARRAY, VT.INT8),
        ("mc.arr.u16", [0, 65535], VT.ARRAY, VT.UINT16),
        ("mc.arr.i16", [-32768, 32767], VT.ARRAY, VT.INT16),
        ("mc.arr.u32", [0, 4294967295, 7], VT.ARRAY, VT.UINT32),
        ("mc.arr.i32", [-2147483648, 2147483647], VT.ARRAY, VT.INT32),
        ("mc.arr.u64", [0, 2**64 - 1], VT.ARRAY, VT.UINT64),
        ("mc.arr.i64", [-(2**63), 2**63 - 1], VT.ARRAY, VT.INT64),
        ("mc.arr.f32", [0.0, -0.0, 1.5, 3.4028234663852886e38, 1e-45], VT.ARRAY, VT.FLOAT32),
        ("mc.arr.f64", [2.5, -1e300, 5e-324], VT.ARRAY, VT.FLOAT64),
        ("mc.arr.bool", [True, False, True], VT.ARRAY, VT.BOOL),
        # Token pieces may be arbitrary bytes: an invalid UTF-8 string inside an array of strings.
        ("mc.arr.string", ["a", "", "\u00fcn\u00ef", b"\xff\xfe\x00raw"], VT.ARRAY, VT.STRING),
        ("mc.arr.nested", [[1, 2, 3], [4], [5, 6]], VT.ARRAY, None),
        ("mc.arr.nested_str", [["x", "y"], ["z"]], VT.ARRAY, None),
        ("mc.arr.nested3", [[[1.5], [2.5, 3.5]], [[4.5]]], VT.ARRAY, None),
    ]


def new_writer(path: Path, fixture: str, alignment: int | None = None) -> tuple[gguf.GGUFWriter, list]:
    w = gguf.GGUFWriter(str(path), arch="llama")  # writes general.architecture first
    expected = [{"key": "general.architecture", **describe("llama", VT.STRING)}]
    if alignment is not None:
        w.add_custom_alignment(alignment)
        expected.append({"key": "general.alignment", **describe(alignment, VT.UINT32)})
    entries = common_metadata() + [("mc.fixture", fixture, VT.STRING, None)]
    for key, value, vtype, sub in entries:
        w.add_key_value(key, value, vtype, sub_type=sub)
        expected.append({"key": key, **describe(value, vtype, sub)})
    return w, expected


# ---- tensor data -------------------------------------------------------------------------------------

def random_blocks(rng: np.random.Generator, qtype: QT, n_blocks: int) -> np.ndarray:
    """Random bytes for n_blocks blocks, with every f16 field set to a random finite half."""
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        h = rng.integers(0, 65536, size=n_blocks, dtype=np.uint16)
        h = np.where((h & 0x7C00) == 0x7C00, h & 0xBFFF, h)  # exponent all ones (inf/NaN) -> finite
        blocks[:, off:off + 2] = h.astype("<u2").view(np.uint8).reshape(n_blocks, 2)
    return blocks


def quant_tensor(rng: np.random.Generator, qtype: QT, shape: tuple[int, ...]) -> np.ndarray:
    """Random valid bytes for a tensor of `shape` (row-major, last dim fastest) as a uint8 byte array."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n = int(np.prod(shape))
    blocks = random_blocks(rng, qtype, n // block_size)
    return blocks.reshape(*shape[:-1], shape[-1] // block_size * type_size)


SPECIAL_F32 = np.array([0x7FC00000, 0xFFC00001, 0x7F800001, 0x7F800000, 0xFF800000, 0x80000000,
                        0x00000001, 0x807FFFFF, 0x7F7FFFFF], dtype=np.uint32)
SPECIAL_F16 = np.array([0x7E00, 0x7C01, 0xFD55, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x83FF, 0x7BFF],
                       dtype=np.uint16)


def plain_tensor(rng: np.random.Generator, qtype: QT, shape: tuple[int, ...]) -> tuple[np.ndarray, QT | None]:
    """(array, raw_dtype) for F32/F16/BF16 tensors, with NaN/inf/subnormal/-0 patterns at the start."""
    if qtype == QT.F32:
        a = rng.standard_normal(shape).astype(np.float32)
        flat = a.reshape(-1).view(np.uint32)
        k = min(len(SPECIAL_F32), flat.size)
        flat[:k] = SPECIAL_F32[:k]
        return a, None
    if qtype == QT.F16:
        a = rng.standard_normal(shape).astype(np.float16)
        flat = a.reshape(-1).view(np.uint16)
        k = min(len(SPECIAL_F16), flat.size)
        flat[:k] = SPECIAL_F16[:k]
        return a, None
    assert qtype == QT.BF16
    bits = rng.integers(0, 65536, size=shape, dtype=np.uint16)  # every pattern, NaNs included
    return bits.astype("<u2").view(np.uint8).reshape(*shape[:-1], shape[-1] * 2), QT.BF16


# ---- writing and checking one fixture ----------------------------------------------------------------

def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def finish(w: gguf.GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def read_back(path: Path, expected_meta: list, version: int, bin_name: str | None, inputs: dict) -> dict:
    """Reads `path` with GGUFReader, dequantizes every tensor with gguf.quants.dequantize and returns
    the fixtures.json entry; writes the expected values to bin_name when given."""
    r = gguf.GGUFReader(str(path))
    assert int(r.fields["GGUF.version"].contents()) == version
    # Cross-check the flat (non-nested) metadata with the reader.
    for e in expected_meta:
        f = r.fields[e["key"]]
        assert f.types[0].name == e["type"], (e["key"], f.types)
    alignment = int(r.alignment)
    tensors, values, n_values = [], [], 0
    for t in r.tensors:
        qtype = QT(int(t.tensor_type))
        entry = {"name": t.name, "type": qtype.name, "type_id": int(qtype),
                 "ne": [int(x) for x in t.shape], "offset": int(t.data_offset) - int(r.data_offset),
                 "nbytes": int(t.n_bytes), "numel": int(t.n_elements)}
        if qtype in DEQUANT_TYPES:
            deq = gguf.quants.dequantize(t.data, qtype).astype(np.float32)
            assert deq.size == t.n_elements
            if inputs.get(t.name) is not None:  # the bytes we passed to the writer give the same values
                again = gguf.quants.dequantize(inputs[t.name], qtype).astype(np.float32)
                assert again.tobytes() == deq.tobytes(), t.name
            raw = deq.reshape(-1).astype("<f4").tobytes()
            entry.update({"expected_index": n_values, "sha256": sha256(raw)})
            values.append(raw)
            n_values += deq.size
        tensors.append(entry)
    if bin_name is not None:
        (OUT / bin_name).write_bytes(b"".join(values))
    return {"file": path.name, "version": version, "alignment": alignment, "data_offset": int(r.data_offset),
            "file_bytes": path.stat().st_size, "expected": bin_name, "metadata": expected_meta, "tensors": tensors}


def shapes_for(qtype: QT) -> list[tuple[str, tuple[int, ...]]]:
    block_size, _ = gguf.GGML_QUANT_SIZES[qtype]
    shapes = [("blk.0.attn_q.weight", (3, 256)), ("blk.0.ffn_down.weight", (2, 512)),
              ("one_block", (block_size,))]
    if qtype == QT.F32:
        shapes += [("cube", (2, 3, 4)), ("hyper", (2, 1, 3, 2))]
    elif block_size == 32:
        shapes += [("cube", (2, 1, 64))]
    return shapes


def write_type_fixture(rng: np.random.Generator, qtype: QT) -> dict:
    name = qtype.name.lower()
    path = OUT / f"{name}.gguf"
    w, meta = new_writer(path, name)
    inputs = {}
    for tname, shape in shapes_for(qtype):
        if qtype in (QT.F32, QT.F16, QT.BF16):
            arr, raw = plain_tensor(rng, qtype, shape)
            w.add_tensor(tname, arr, raw_dtype=raw)
            inputs[tname] = arr
        else:
            arr = quant_tensor(rng, qtype, shape)
            w.add_tensor(tname, arr, raw_dtype=qtype)
            inputs[tname] = arr
    if qtype in QUANTIZABLE:  # and one tensor quantized from real-valued data by gguf-py itself
        x = rng.standard_normal((2, 64)).astype(np.float32)
        q = gguf.quants.quantize(x, qtype)
        w.add_tensor("quantized.weight", q, raw_dtype=qtype)
        inputs["quantized.weight"] = q
    finish(w)
    return read_back(path, meta, 3, f"{name}.expected.bin", inputs)


def write_align64(rng: np.random.Generator) -> dict:
    path = OUT / "align64.gguf"
    w, meta = new_writer(path, "align64", alignment=64)
    w.add_tensor("a.q8_0", quant_tensor(rng, QT.Q8_0, (1, 32)), raw_dtype=QT.Q8_0)       # 34 bytes
    w.add_tensor("b.f32", rng.standard_normal((5,)).astype(np.float32))                  # 20 bytes
    w.add_tensor("c.q4_k", quant_tensor(rng, QT.Q4_K, (1, 256)), raw_dtype=QT.Q4_K)      # 144 bytes
    w.add_tensor("d.f16", rng.standard_normal((3, 3)).astype(np.float16))                # 18 bytes
    finish(w)
    return read_back(path, meta, 3, "align64.expected.bin", {})


def write_q2_k(rng: np.random.Generator) -> dict:
    path = OUT / "q2_k.gguf"
    w, meta = new_writer(path, "q2_k")
    w.add_tensor("blk.0.attn_k.weight", quant_tensor(rng, QT.Q2_K, (2, 256)), raw_dtype=QT.Q2_K)
    w.add_tensor("ok.f32", rng.standard_normal((4,)).astype(np.float32))
    finish(w)
    return read_back(path, meta, 3, "q2_k.expected.bin", {})


def write_metadata_only() -> dict:
    path = OUT / "metadata_only.gguf"
    w, meta = new_writer(path, "metadata_only")
    finish(w)
    return read_back(path, meta, 3, None, {})


def write_v2(q4_0_entry: dict) -> dict:
    src = OUT / "q4_0.gguf"
    dst = OUT / "v2_q4_0.gguf"
    b = bytearray(src.read_bytes())
    assert b[4:8] == struct.pack("<I", 3)
    b[4:8] = struct.pack("<I", 2)
    dst.write_bytes(bytes(b))
    meta = [dict(m) for m in q4_0_entry["metadata"]]
    entry = read_back(dst, meta, 2, None, {})
    entry["expected"] = q4_0_entry["expected"]  # same tensors, same values
    assert entry["tensors"] == q4_0_entry["tensors"]
    return entry


# ---- the real model ----------------------------------------------------------------------------------

def real_digests(path: Path) -> dict:
    r = gguf.GGUFReader(str(path))
    scalars, arrays = {}, {}
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        t = f.types[0]
        if t == VT.ARRAY:
            # parts: key length, key, value type, element type, count, then the items exactly as stored
            assert f.parts[1].tobytes().decode() == key and int(f.parts[2][0]) == int(VT.ARRAY)
            items = b"".join(p.tobytes() for p in f.parts[5:])
            arrays[key] = {"elem_type": f.types[1].name, "length": int(f.parts[4][0]), "items_sha256": sha256(items)}
        elif t == VT.STRING:
            scalars[key] = {"type": "STRING", "hex": f.parts[-1].tobytes().hex()}
        elif t == VT.FLOAT32:
            scalars[key] = {"type": "FLOAT32", "bits": "0x%08x" % int(f.parts[-1].view(np.uint32)[0])}
        elif t == VT.FLOAT64:
            scalars[key] = {"type": "FLOAT64", "bits": "0x%016x" % int(f.parts[-1].view(np.uint64)[0])}
        elif t == VT.BOOL:
            scalars[key] = {"type": "BOOL", "value": bool(f.parts[-1][0])}
        else:
            scalars[key] = {"type": t.name, "value": int(f.parts[-1][0])}
    tensors = []
    for t in r.tensors:
        qtype = QT(int(t.tensor_type))
        deq = gguf.quants.dequantize(t.data, qtype).astype(np.float32)
        tensors.append({"name": t.name, "type": qtype.name, "ne": [int(x) for x in t.shape],
                        "offset": int(t.data_offset) - int(r.data_offset), "nbytes": int(t.n_bytes),
                        "sha256": sha256(deq.reshape(-1).astype("<f4").tobytes())})
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return {"generator": "tools/gen_gguf_fixtures.py (gguf==%s, numpy==%s)" % (gguf_version(), np.__version__),
            "file": path.name, "file_bytes": path.stat().st_size, "file_sha256": h.hexdigest(),
            "version": int(r.fields["GGUF.version"].contents()), "alignment": int(r.alignment),
            "data_offset": int(r.data_offset), "metadata": scalars, "arrays": arrays, "tensors": tensors}


def gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-real", action="store_true", help="skip the real-model digests")
    ap.add_argument("--real", default=str(REAL), help="the SmolLM2 Q4_1 GGUF")
    args = ap.parse_args()
    if gguf_version() != "0.19.0":
        print(f"warning: expected gguf 0.19.0, found {gguf_version()}", file=sys.stderr)

    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20250601)
    files = []
    by_type = {}
    for qtype in DEQUANT_TYPES:
        e = write_type_fixture(rng, qtype)
        by_type[qtype] = e
        files.append(e)
    files.append(write_v2(by_type[QT.Q4_0]))
    files.append(write_align64(rng))
    files.append(write_q2_k(rng))
    files.append(write_metadata_only())
    doc = {"generator": "tools/gen_gguf_fixtures.py (gguf==%s, numpy==%s)" % (gguf_version(), np.__version__),
           "files": files}
    (OUT / "fixtures.json").write_text(json.dumps(doc, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir() if p.is_file())
    print(f"wrote {len(files)} fixtures to {OUT} ({total} bytes in the folder)")

    if not args.no_real:
        real = Path(args.real)
        if not real.exists():
            print(f"{real} not found: real-model digests not written", file=sys.stderr)
            return 1
        d = real_digests(real)
        (OUT / "smollm2_q4_1.digests.json").write_text(json.dumps(d, indent=1) + "\n")
        print(f"wrote digests of {len(d['tensors'])} tensors of {real.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

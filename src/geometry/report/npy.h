// A strict reader for NumPy .npy files holding one 2-D float matrix (an activation matrix (N, D) for
// `mc analyze intrinsic-dimension` / `mc analyze cka`). Format (numpy/lib/format.py, NEP 1): magic
// "\x93NUMPY", major/minor version (1.0: u16 LE header length; 2.0 and 3.0: u32 LE), then an ASCII
// (3.0: UTF-8) Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded with
// spaces and ending in '\n', then the raw data. We accept exactly descr '<f4' or '<f8' (also the
// byte-order-free '|' never applies to floats), fortran_order False, a 2-D shape with both dims > 0,
// and a data area of exactly N·D·itemsize bytes. Anything else is mc::Error("[npy] <file>: ...").
// Not a general .npy reader: no object arrays, no big-endian data, no structured dtypes.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mc::geometry {

/// A dense row-major matrix read from a file, converted to double (float32 → double is exact).
struct DenseMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> data;  // (rows, cols)
  std::string dtype;         // as stored: "float32" / "float64"
};

/// Parses a .npy image already in memory; `source` names it in errors.
DenseMatrix npy_parse(std::span<const uint8_t> bytes, const std::string& source);
/// Reads and parses a .npy file.
DenseMatrix npy_load(const std::string& path);

}  // namespace mc::geometry

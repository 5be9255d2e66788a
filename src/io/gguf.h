// GGUF reader (versions 2 and 3): metadata key/values of every type (arrays included), tensor infos,
// alignment, and dequantization of F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K to f32.
// Layout (ggml/docs/gguf.md): magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv | kv pairs |
// tensor infos (name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset) | padding to
// general.alignment (default 32) | tensor data. Strings are u64 length + bytes (no NUL).
// Every count, length, offset and size is validated against the file before use.
// Dims: ggml's ne[0] is the fastest-varying dimension, so a weight with ne = [in, out] is the row-major
// (out, in) matrix HF stores; shape() returns PyTorch order (reversed ne).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/fs.h"

namespace mc {

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

/// ggml tensor types (values as in ggml.h and gguf-py 0.19.0's GGMLQuantizationType). The parser accepts
/// every type listed here (it knows their block sizes); only those for which ggml_type_supported() is true
/// dequantize. Gaps (4, 5, 31..33, 36..38) are types ggml has removed.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41,
};

/// One metadata value. Scalars live in the field for their kind; arrays hold elements of one type.
struct GgufValue {
  GgufValueType          type = GgufValueType::UINT8;
  uint64_t               u    = 0;    // UINT8/16/32/64, BOOL
  int64_t                i    = 0;    // INT8/16/32/64
  double                 f    = 0.0;  // FLOAT32/64
  std::string            s;           // STRING
  GgufValueType          elem_type = GgufValueType::UINT8;  // ARRAY
  std::vector<GgufValue> arr;                               // ARRAY

  bool is_array() const { return type == GgufValueType::ARRAY; }
  /// Integer value of any integer/bool type (nullopt otherwise or when out of int64 range).
  std::optional<int64_t> as_int() const;
  /// Numeric value of any integer or float type.
  std::optional<double> as_float() const;
  const std::string* as_string() const { return type == GgufValueType::STRING ? &s : nullptr; }
};

struct GgufTensorInfo {
  std::string           name;
  std::vector<uint64_t> ne;           // ggml order: ne[0] fastest
  GgmlType              type = GgmlType::F32;
  uint64_t              offset = 0;   // relative to the start of the data area
  uint64_t              nbytes = 0;   // computed from ne and the type's block size
  uint64_t numel() const;
  std::vector<int64_t> shape() const;  // PyTorch order: reversed ne
};

class GgufFile {
 public:
  /// Opens and validates. Throws mc::Error("[gguf] <path>: <problem>") on any defect.
  static GgufFile open(const std::string& path);
  /// Parses a file already in memory (fuzzing, tests); `source` names it in errors. Nothing is copied:
  /// `bytes` must outlive the returned object (and its copies).
  static GgufFile from_memory(std::span<const uint8_t> bytes, const std::string& source);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute file offset of the data area
  uint64_t file_bytes() const { return bytes_.size(); }

  /// Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  /// Convenience lookups; nullopt when absent or of an incompatible type.
  std::optional<int64_t>     get_int(const std::string& key) const;
  std::optional<double>      get_float(const std::string& key) const;
  std::optional<std::string> get_string(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  /// The tensor's bytes inside the file (t must be one of tensors()).
  std::span<const uint8_t> raw(const GgufTensorInfo& t) const;
  /// Dequantizes to f32 in ggml element order (= row-major PyTorch order), bit for bit as gguf-py 0.19.0's
  /// gguf.quants.dequantize. Throws mc::Error naming the file and tensor for unsupported types.
  std::vector<float> dequantize(const GgufTensorInfo& t) const;

 private:
  std::shared_ptr<MappedFile>                    map_;
  std::span<const uint8_t>                       bytes_;
  std::string                                    path_;
  uint32_t                                       version_ = 0;
  uint64_t                                       alignment_ = 32;
  uint64_t                                       data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo>                    tensors_;
};

/// Name as llama.cpp and gguf-py spell it: "Q4_K", "F16", ...; "type<N>" for values mc does not know.
std::string ggml_type_name(GgmlType t);
/// Elements per block and bytes per block; false for types mc does not know.
bool ggml_type_block(GgmlType t, uint64_t* block_elems, uint64_t* block_bytes);
/// True for the types mc dequantizes.
bool ggml_type_supported(GgmlType t);

/// Dequantizes `n` elements (a multiple of the block size) from `src` (exactly n/block × block_bytes
/// bytes) into `dst`. Results equal the PyPI `gguf` package's dequantize bit for bit. Throws mc::Error
/// for a type that ggml_type_supported() rejects.
void ggml_dequantize(GgmlType type, const uint8_t* src, float* dst, uint64_t n);

}  // namespace mc

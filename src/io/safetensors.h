// safetensors read (mmap, lazy per tensor, sharded model.safetensors.index.json) and atomic write.
// Format: u64 LE header length N | N bytes of UTF-8 JSON header | data area. The header maps tensor
// names to {dtype, shape, data_offsets:[begin,end]} relative to the data area, plus an optional
// "__metadata__" object of string values. Everything in the header is validated before use
// (spec/ecosystem.md §4.1): header length within kSafetensorsMaxHeaderBytes and the file, UTF-8 JSON
// object, no duplicate keys, known dtypes, shape × dtype size == byte length, offsets inside the data
// area, no overlaps, no holes, data area fully covered. The writer reproduces the bytes PyPI
// safetensors 0.8.0 writes for the same tensors (with at most one metadata key; see safetensors_write).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/fs.h"
#include "tensor/dtype.h"

namespace mc {

/// Header limit, as in the reference implementation (100 MB).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

struct SafetensorsTensorInfo {
  std::string          name;
  Dtype                dtype = Dtype::F32;
  std::vector<int64_t> shape;      // row-major (C order), PyTorch dim order
  uint64_t             begin = 0;  // byte offset relative to the data area
  uint64_t             end   = 0;  // one past the last byte
  uint64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

/// One .safetensors file, memory-mapped. Tensor bytes are touched only when asked for.
class SafetensorsFile {
 public:
  /// Opens and validates. Throws mc::Error("[safetensors] <path>: <problem>") on any defect.
  static SafetensorsFile open(const std::string& path);
  /// Validates a file already in memory (for fuzzing and tests); `source` names it in errors.
  static SafetensorsFile from_memory(std::span<const uint8_t> bytes, const std::string& source);

  const std::string& path() const { return path_; }
  /// Tensors in data-offset order.
  const std::vector<SafetensorsTensorInfo>& tensors() const { return tensors_; }
  const SafetensorsTensorInfo* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t header_bytes() const { return header_len_; }
  uint64_t file_bytes() const { return bytes_.size(); }

  /// Raw little-endian bytes of one tensor (a view into the map).
  std::span<const uint8_t> raw(const SafetensorsTensorInfo& t) const;
  /// The tensor converted to f32 (float and integer dtypes).
  std::vector<float> to_f32(const SafetensorsTensorInfo& t) const;

 private:
  std::shared_ptr<MappedFile>        map_;    // null for from_memory
  std::span<const uint8_t>           bytes_;  // whole file
  std::string                        path_;
  uint64_t                           header_len_ = 0;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, size_t>      index_;  // name -> position in tensors_
};

/// A checkpoint made of one file or of shards listed in model.safetensors.index.json.
class SafetensorsModel {
 public:
  /// `path` is a directory (model.safetensors or model.safetensors.index.json inside), a .safetensors
  /// file, or an index .json file. Every shard is opened and validated; a tensor that appears in two
  /// shards, or that the index lists in a shard that lacks it, is an error.
  static SafetensorsModel open(const std::string& path);

  struct Entry {
    const SafetensorsFile*       file;
    const SafetensorsTensorInfo* info;
  };
  /// What was passed to open().
  const std::string& path() const { return path_; }
  /// All tensors, sorted by name.
  const std::map<std::string, Entry>& tensors() const { return tensors_; }
  const Entry* find(const std::string& name) const;
  std::vector<float> to_f32(const std::string& name) const;  // throws if absent
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  uint64_t total_file_bytes() const;

 private:
  std::string                                   path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry>                  tensors_;
};

/// One tensor to write. `data` holds exactly numel × dtype_size bytes, little-endian.
struct SafetensorsWriteEntry {
  std::string              name;
  Dtype                    dtype = Dtype::F32;
  std::vector<int64_t>     shape;
  std::span<const uint8_t> data;
};

/// Writes a .safetensors file atomically. Tensors are packed contiguously (no holes) in the order the
/// reference writer uses (its dtype order descending: U64 I64 F64 F32 U32 I32 BF16 F16 U16 I16 I8 U8
/// BOOL, then name by bytes); the header is padded with spaces so the data area starts at a multiple
/// of 8. Metadata keys are written sorted (the reference uses hash order) and an empty map writes no
/// "__metadata__". Throws mc::Error on duplicate names, a size mismatch or invalid UTF-8 names.
void safetensors_write(const std::string& path, const std::vector<SafetensorsWriteEntry>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

/// Converts f32 values to the bytes of `dtype` (F32, F16 or BF16; bf16/f16 round to nearest even).
/// Throws mc::Error for any other dtype.
std::vector<uint8_t> f32_to_bytes(std::span<const float> values, Dtype dtype);

}  // namespace mc

// Identity of a training run's inputs and the seed derived from it (spec/training.md §3.16 "Seed"):
//   model_hash   = SHA-256 over the model directory's config.json, model.safetensors.index.json (when
//                  present) and every top-level *.safetensors in byte order of their names; for each
//                  file the relative path bytes, then the file bytes (streamed, never loaded whole).
//                  Fallback when the directory holds neither config.json nor *.safetensors: every
//                  regular file under it, recursively, sorted by relative path. A single file hashes
//                  as (its file name, its bytes).
//   dataset_hash = SHA-256 of the dataset file's bytes.
//   seed         = the first 4 bytes of SHA-256("<model_hash>:<dataset_hash>") (hex digests) read as a
//                  big-endian uint32.
// Digests are lowercase hex, as hashlib's hexdigest() prints them (tools/gen_plan_goldens.py).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mc::train {

/// seed_source values of the plan (spec/training.md §3.16).
inline constexpr const char* kSeedSourceDerived = "derived_from_model_dataset_hash";
inline constexpr const char* kSeedSourceUser = "user_supplied_override";

/// The files model_hash() reads, in order, as paths relative to `model_path` (just the file name when
/// `model_path` is a file). Throws mc::Error("[plan] ...") when the path does not exist or holds no file.
std::vector<std::string> model_hash_files(const std::string& model_path);

/// SHA-256 hex digest of the model (see the file header).
std::string model_hash(const std::string& model_path);

/// SHA-256 hex digest of a file's bytes, read in chunks. Throws mc::Error("[plan] ...") naming the file.
std::string file_sha256(const std::string& path);

/// dataset_hash = file_sha256(dataset file).
inline std::string dataset_hash(const std::string& path) { return file_sha256(path); }

/// uint32_be(SHA-256("<model_hash>:<dataset_hash>")[0:4]).
uint32_t seed_from_hashes(const std::string& model_hash_hex, const std::string& dataset_hash_hex);

struct SeedResolution {
  uint32_t    seed = 0;
  std::string source;  // kSeedSourceDerived | kSeedSourceUser
};

/// The run seed: the user's --seed when given, else seed_from_hashes().
SeedResolution resolve_seed(const std::string& model_hash_hex, const std::string& dataset_hash_hex,
                            std::optional<uint32_t> user_seed);

}  // namespace mc::train

// Model/dataset hashing and the derived seed (spec/training.md §3.16).
#include "train/plan_hash.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/sha256.h"

namespace mc::train {

namespace fs = std::filesystem;

namespace {

/// Read size for streaming a file through SHA-256: large enough that the per-call overhead vanishes,
/// small enough to stay in L2/L3 cache.
constexpr size_t kHashChunkBytes = size_t{1} << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

void hash_file_into(Sha256& h, const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error("plan", path + ": cannot open for hashing");
  std::vector<uint8_t> buf(kHashChunkBytes);
  for (;;) {
    const size_t got = std::fread(buf.data(), 1, buf.size(), f.get());
    if (got > 0) h.update(buf.data(), got);
    if (got < buf.size()) {
      if (std::ferror(f.get())) throw Error("plan", path + ": read error while hashing");
      break;
    }
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<std::string> model_hash_files(const std::string& model_path) {
  std::error_code ec;
  const fs::path root(model_path);
  if (!fs::exists(root, ec)) throw Error("plan", model_path + ": no such file or directory");
  if (!fs::is_directory(root, ec)) return {root.filename().string()};

  std::vector<std::string> files;
  if (fs::is_regular_file(root / "config.json", ec)) files.push_back("config.json");
  if (fs::is_regular_file(root / "model.safetensors.index.json", ec)) files.push_back("model.safetensors.index.json");
  std::vector<std::string> shards;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && ends_with(name, ".safetensors")) shards.push_back(name);
  }
  std::sort(shards.begin(), shards.end());  // byte order, as Python's sorted() on str of ASCII names
  files.insert(files.end(), shards.begin(), shards.end());
  if (!files.empty()) return files;

  // Fallback: every regular file, recursively, by relative path.
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), root).generic_string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error("plan", model_path + ": the model directory holds no file to hash");
  return files;
}

std::string model_hash(const std::string& model_path) {
  const std::vector<std::string> files = model_hash_files(model_path);
  const fs::path root(model_path);
  const bool is_dir = fs::is_directory(root);
  Sha256 h;
  for (const auto& rel : files) {
    h.update(rel);
    hash_file_into(h, is_dir ? (root / rel).string() : model_path);
  }
  return h.hex_digest();
}

std::string file_sha256(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error("plan", path + ": no such file");
  Sha256 h;
  hash_file_into(h, path);
  return h.hex_digest();
}

uint32_t seed_from_hashes(const std::string& model_hash_hex, const std::string& dataset_hash_hex) {
  Sha256 h;
  h.update(model_hash_hex + ":" + dataset_hash_hex);
  const std::array<uint8_t, 32> d = h.digest();
  return (uint32_t{d[0]} << 24) | (uint32_t{d[1]} << 16) | (uint32_t{d[2]} << 8) | uint32_t{d[3]};
}

SeedResolution resolve_seed(const std::string& model_hash_hex, const std::string& dataset_hash_hex,
                            std::optional<uint32_t> user_seed) {
  if (user_seed) return {*user_seed, kSeedSourceUser};
  return {seed_from_hashes(model_hash_hex, dataset_hash_hex), kSeedSourceDerived};
}

}  // namespace mc::train

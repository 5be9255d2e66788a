// On-disk cache of a model's candidate geometry (plan_geometry.h): one JSON file per model,
// <dir>/<model_hash>.json, written atomically (temp file, fsync, rename). Reading trusts nothing: the
// schema, version, model hash and SVD threshold must match, the module list must equal the model's
// candidates (names and shapes, in order), every number must be finite (σ's positive where the
// definitions make them so) and the integers consistent (1 <= k <= n_svs, tail_dims = full_rank − k).
// Anything else rejects the file with a reason; the caller recomputes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "train/plan_geometry.h"

namespace mc::train {

/// Bumped whenever the geometry definitions or this file's layout change: older caches are rejected.
inline constexpr int kGeometryCacheVersion = 1;
inline constexpr const char* kGeometryCacheSchema = "mc.train.geometry_cache.v1";

/// <dir>/<model_hash>.json.
std::string geometry_cache_path(const std::string& dir, const std::string& model_hash);

/// The cache document for `modules`.
OrderedJson geometry_cache_to_json(const std::string& model_hash, int64_t exact_max_dim,
                                   const std::vector<ModuleGeometry>& modules);

/// Parses and validates a cache document against the expected candidates. On rejection returns
/// nullopt and sets *why.
std::optional<std::vector<ModuleGeometry>> geometry_cache_from_json(const Json& doc, const std::string& model_hash,
                                                                    int64_t exact_max_dim,
                                                                    const std::vector<GeometryCandidate>& expected,
                                                                    std::string* why);

/// Reads `path` (nullopt with *why = "absent" when the file does not exist; unreadable or corrupt
/// files give nullopt with the reason). Never throws for a bad file.
std::optional<std::vector<ModuleGeometry>> geometry_cache_read(const std::string& path, const std::string& model_hash,
                                                               int64_t exact_max_dim,
                                                               const std::vector<GeometryCandidate>& expected,
                                                               std::string* why);

/// Writes the cache atomically, creating the directory. Throws mc::Error("[plan] ...") on failure.
void geometry_cache_write(const std::string& path, const std::string& model_hash, int64_t exact_max_dim,
                          const std::vector<ModuleGeometry>& modules);

}  // namespace mc::train

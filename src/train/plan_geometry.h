// Spectral geometry of every adapter candidate of a loaded model (spec/training.md §2): the 2-D
// projections a LoRA adapter may target — attention q/k/v/o (LFM2: self_attn.out_proj), LFM2 short-conv
// conv.in_proj / conv.out_proj, MLP gate/up/down (LFM2: feed_forward.w1/w3/w2) — found through the
// architecture's layer layout (model/arch/arch.h), each given its geometry::LayerGeometry (σ_max, Shannon
// erank, structural rank k, σ_k, spectral gap, tail_dims, decay ratio). Embeddings, norms, the conv kernel
// and lm_head are never candidates.
//
// Spectra: exact SVD (dgesdd in double of the fp32 weights) when min(m, n) <= exact_max_dim
// (geometry::kExactSvdMaxDim = 8192, training.md §2 PROPOSED), otherwise the randomized top-k path of
// geometry::spectrum_estimate with the flat-tail energy correction in layer_geometry.
//
// Results are cached per model in a JSON file keyed by the model hash (plan_geometry_cache.h); a cache
// that is missing, corrupt or inconsistent with the model is recomputed with a warning, never fatal.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "geometry/ranks.h"
#include "geometry/spectrum.h"

namespace mc {
class Model;
}

namespace mc::train {

/// Which projection of a decoder layer a candidate is (engine order).
enum class ProjRole : int { Q = 0, K, V, O, ConvIn, ConvOut, Gate, Up, Down };

/// "q", "k", "v", "o", "conv_in", "conv_out", "gate", "up", "down".
const char* proj_role_name(ProjRole r);

/// One weight matrix a plan may target, as a view into the model's fp32 storage.
struct GeometryCandidate {
  std::string  name;    // HF weight key, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::string  module;  // HF module path (name without ".weight"), what LoRA addresses
  int64_t      layer = -1;
  ProjRole     role = ProjRole::Q;
  const float* data = nullptr;  // (m, n) row-major fp32, or null when the model keeps it in bf16:
  int64_t      m = 0, n = 0;    // (out, in)
  const uint16_t* bf16 = nullptr;  // (m, n) row-major bf16 when data is null
};

/// Every candidate of `model`, by layer, then in ProjRole order.
std::vector<GeometryCandidate> geometry_candidates(const Model& model);

/// Geometry of one candidate.
struct ModuleGeometry {
  std::string             name;    // HF weight key
  std::string             module;  // HF module path
  int64_t                 layer = -1;
  ProjRole                role = ProjRole::Q;
  geometry::LayerGeometry geo;     // m, n, full_rank, σ's, erank, k, tail_dims, ... (training.md §2)
  bool                    exact = true;                 // all min(m, n) singular values were computed
  int                     rounds = 0;                   // randomized rounds (0: exact SVD)
  double                  tail_energy_fraction = 0.0;   // uncaptured energy fraction (0 when exact)
};

/// Per-matrix seed of the randomized SVD: the first 4 bytes of SHA-256(name), big-endian. training.md
/// §2 writes `(seed + hash(key)) & 0xFFFFFFFF` with Python's per-process string hash; we drop the run
/// seed so the geometry depends on the weights only (and can be cached by model hash).
uint64_t geometry_matrix_seed(const std::string& name);

/// Geometry of one (m, n) fp32 matrix.
ModuleGeometry module_geometry(const GeometryCandidate& c, int64_t exact_max_dim = geometry::kExactSvdMaxDim);

struct GeometryCacheOptions {
  bool        enabled = true;
  bool        read_only = false;  // use a cached entry but never write one (`mc train run --plan-only`)
  std::string dir;  // empty: default_geometry_cache_dir()
};

struct GeometryOptions {
  GeometryCacheOptions cache;
  int64_t exact_max_dim = geometry::kExactSvdMaxDim;
  /// Worker threads, one matrix each; with more than one, OpenBLAS runs single-threaded meanwhile.
  int threads = 1;
  /// Called after each computed matrix (serialised): done, total, name. Not called on a cache hit.
  std::function<void(size_t, size_t, const std::string&)> progress;
};

enum class CacheStatus { Disabled, Hit, Miss, Invalid };
/// "disabled", "hit", "miss", "invalid".
const char* cache_status_name(CacheStatus s);

struct ModelGeometry {
  std::string                 model_hash;
  std::vector<ModuleGeometry> modules;  // geometry_candidates() order
  CacheStatus                 cache_status = CacheStatus::Disabled;
  std::string                 cache_path;  // the file read or written ("" when disabled)
  std::string                 cache_note;  // why an existing cache was rejected, or a write failure
};

/// $XDG_CACHE_HOME/mc/geometry, else $HOME/.cache/mc/geometry, else "" (no cache).
std::string default_geometry_cache_dir();

/// Geometry of every candidate of `model`, from the cache when a valid one exists for `model_hash`.
/// A rejected cache logs a warning (log_warn) and is replaced; a cache that cannot be written logs a
/// warning. Throws mc::Error when the model has no candidate or an SVD fails (naming the matrix).
ModelGeometry model_geometry(const Model& model, const std::string& model_hash, const GeometryOptions& options = {});

}  // namespace mc::train

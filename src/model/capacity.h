// Spectral capacity of a model's weight matrices (`mc model capacity`, `mc analyze spectral-trajectory`):
// walks every 2-D tensor of a Hugging Face checkpoint, takes its singular values and computes the
// measures of spec/surface.md §4.11 (norms, stable rank, participation ratio, √ε numerical ranks, null
// space, relative-gap knee), the per-matrix LayerGeometry of spec/training.md §2 (Shannon effective rank,
// structural rank k, tail_dims, σ_k, decay ratio), the numpy matrix_rank numerical rank, the condition
// number over the significant spectrum and WeightWatcher's heavy-tailed α (Martin & Mahoney 2021).
// All estimators are the geometry library's (src/geometry); this file only finds the matrices, runs
// them (optionally on several threads) and summarises. Expected values: tools/gen_capacity_goldens.py.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "geometry/powerlaw.h"
#include "geometry/ranks.h"
#include "geometry/spectrum.h"

namespace mc {

/// Everything `mc model capacity` reports about one weight matrix W (m, n) = (out, in).
struct MatrixCapacity {
  std::string name;         // HF tensor name, e.g. "model.layers.3.self_attn.q_proj.weight"
  std::string module;       // module type: the name after "layers.<i>." without ".weight"
                            // ("self_attn.q_proj"), else its last component ("embed_tokens", "lm_head")
  std::string group;        // weight_group_name(): embedding, attention, mlp, conv, lm_head, other
  int64_t     layer = -1;   // decoder layer index; -1 outside the layers
  int64_t     m = 0, n = 0;  // shape (out, in)
  std::string dtype;        // storage dtype ("BF16", "F32", ...)

  geometry::CapacityMetrics cap;    // surface.md §4.11: σ₁, nuclear, Frobenius, participation ratio, stable
                                    // rank, √ε ranks, null space, recommended rank, capacity utilization
  geometry::LayerGeometry   geo;    // training.md §2: Shannon erank (energy weights), k, σ_k, tail_dims, ...
  int64_t numerical_rank = 0;       // numpy.linalg.matrix_rank: #{σ > σ₁·max(m,n)·ε_f32}
  double  condition_number = 0.0;   // σ₁ / σ_r over the significant spectrum (r = numerical_rank)
  geometry::PowerLawFit alpha;      // WeightWatcher 0.7.7 α of the ESD λ = σ² (ok = false: < 8 values)
  std::vector<double> singular_values;  // (min(m, n)) descending; only with CapacityOptions::keep_singular_values
};

/// Model-level totals and medians over the analysed matrices.
struct CapacitySummary {
  uint64_t total_parameters = 0;     // every tensor of the checkpoint
  uint64_t analyzed_parameters = 0;  // the analysed 2-D tensors
  int64_t  analyzed_matrices = 0;
  int64_t  skipped_tensors = 0;      // not 2-D, or filtered out
  double   median_sigma_max = 0.0;
  double   median_stable_rank = 0.0;
  double   median_effective_rank = 0.0;    // Shannon (energy)
  double   median_participation_ratio = 0.0;
  double   median_alpha = 0.0;             // over matrices with a fitted α (NaN when none)
  int64_t  alpha_fitted = 0;
  double   mean_capacity_utilization = 0.0;
  int64_t  total_tail_dims = 0;
  int64_t  targetable_matrices = 0;        // tail_dims > 0
  int64_t  reference_rank_dimension = 0;   // most common min(m, n) (ties → the larger)
};

struct CapacityReport {
  std::string model_path;
  std::string model_type;  // from config.json; empty when there is none
  int64_t     num_layers = 0;
  std::vector<MatrixCapacity> matrices;  // in name order
  CapacitySummary summary;
};

struct CapacityOptions {
  /// Keep only tensors whose name contains one of these substrings (empty: all 2-D tensors).
  std::vector<std::string> include;
  int64_t min_dim = 0;  // keep min(m, n) >= min_dim
  int64_t max_dim = 0;  // keep min(m, n) <= max_dim (0: no limit)
  /// Worker threads, one matrix each. With more than one, OpenBLAS is set to one thread for the run
  /// (restored afterwards) so that the workers do not oversubscribe the cores.
  int threads = 1;
  bool keep_singular_values = false;
  geometry::SvdPrecision precision = geometry::SvdPrecision::Double;
  /// Called after each matrix (from the worker that finished it, serialised): done, total, name.
  std::function<void(size_t, size_t, const std::string&)> progress;
};

/// The capacity measures of one matrix from its singular values `s` (descending, min(m, n) of them).
MatrixCapacity matrix_capacity_from_spectrum(std::vector<double> s, int64_t m, int64_t n, bool keep_singular_values);

/// SVD of the row-major (m, n) float matrix, then matrix_capacity_from_spectrum. Name fields stay empty.
MatrixCapacity matrix_capacity(const float* w, int64_t m, int64_t n, bool keep_singular_values = false,
                               geometry::SvdPrecision precision = geometry::SvdPrecision::Double);

/// Analyses every 2-D tensor of the checkpoint at `path` (an HF model directory, a .safetensors file or
/// an index .json). Throws mc::Error("[capacity] ...") when the path holds no checkpoint, when no tensor
/// passes the filters, and re-throws (with the tensor's name) a failure on any matrix.
CapacityReport capacity_analyze(const std::string& path, const CapacityOptions& options = {});

/// Module type of a tensor name: "model.layers.3.self_attn.q_proj.weight" → "self_attn.q_proj",
/// "model.embed_tokens.weight" → "embed_tokens", "lm_head.weight" → "lm_head".
std::string capacity_module_of(const std::string& name);
/// Decoder layer index in a tensor name (".layers.<i>."), or -1.
int64_t capacity_layer_of(const std::string& name);

/// Median of finite values (NaN when there are none); even counts average the middle two.
double median_finite(std::vector<double> v);

// --- per-layer spectral profile (`mc analyze spectral-trajectory`) ------------------------------------

/// One module type's measures against the decoder layer index.
struct ModuleTrajectory {
  std::string module;                  // "self_attn.q_proj", ...
  std::vector<int64_t> layers;         // layer indices holding this module, ascending
  std::vector<double> sigma_max;       // per entry of `layers`
  std::vector<double> effective_rank;  // Shannon (energy weights)
  std::vector<double> stable_rank;
  std::vector<double> alpha;           // NaN where WeightWatcher would not fit
  /// Spearman ρ of each measure against the layer index (average ranks for ties, spec/surface.md §4.10;
  /// NaN with fewer than 2 finite points or a constant series).
  double sigma_max_trend = 0.0, effective_rank_trend = 0.0, stable_rank_trend = 0.0, alpha_trend = 0.0;
};

/// Groups a capacity report's in-layer matrices by module type: attention, conv, then MLP projections
/// in the order q, k, v, o (out), gate, up, down (w1, w3, w2); unknown types after them by name.
std::vector<ModuleTrajectory> spectral_trajectory(const CapacityReport& report);

/// Spearman rank correlation with average ranks for ties (Pearson of the ranks) over the pairs where
/// both values are finite. NaN for fewer than 2 pairs or when either ranking is constant.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace mc

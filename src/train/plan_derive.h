// The derivations of the training plan (spec/training.md §3, DECISIONS.md #1, #6, #7, #8), each a pure
// function of explicit inputs. Formulas and sources:
//   targets, ranks (§3.11, §3.12)   r = tail_dims if tail_dims > 0; r = 1 if tail_dims = 0 and gap > 0 (a
//                                   "zero-tail" module); otherwise not a target. Attention coupling per
//                                   layer r(q) = min(r(q), r(k)). Ceiling: with RMT signal ranks,
//                                   r = min(r, max(1, ⌊act_erank_L⌋), max(1, signal_rank_L)) for modules of a
//                                   layer L that has them (others keep r); else r = min(r, n_train).
//                                   Finally r = min(r, tail_dims) for modules with tail_dims > 0.
//   RMT signal rank (§3.11)         Marchenko–Pastur edge over mean-pooled hidden states of eval probes
//                                   (geometry::mp_signal_rank; Gavish & Donoho 2014 noise level).
//   scale bound (§3.10, DECISIONS 1) (σ_k/2)(1 − √ε); zero-tail (gap/4)(1 − √ε) (no-crossing ‖E‖ < gap/2,
//                                   halved for ΔW = 2·BᵀSA). Weyl 1912: |σ_i(W+E) − σ_i(W)| ≤ ‖E‖₂.
//   decay scale (§3.4)              σ_k/σ_max (1 when σ_max ≤ 0). Reported, not applied (weight decay 0).
//   Adam ε floor (§3.2)             max(σ_k², √ε·σ_max²). Reported, not applied (no Adam).
//   dropout (§3.13)                 (1 − erank/full_rank)·(r/full_rank) (Roy & Vetterli 2007). Reported;
//                                   dropout 0 is applied.
//   η ceiling (§3.1)                η⁰ = σ_k_min/σ_max over the targets (Weyl); η = η⁰/√N_b when N_b > 1.
//   trainable params (DECISIONS 8)  Σ r·(in + out + 1) (Ã, B̃ and S of NB-LoRA).
//   critical batch (§3.8)           McCandlish et al. 2018 B_simple = tr Σ/‖ḡ‖² from per-sample gradients.
//   safety cap (§3.16)              max_iters = N_b · ⌈1/√ε⌉.
//   output path (DECISIONS 7)       <model's parent>/adapters/<model name>-geometric-lora-<seed>.
// ε is float32's machine epsilon 2⁻²³ throughout (spec §1), whatever the storage dtype.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "geometry/matrix.h"
#include "geometry/ranks.h"
#include "train/plan_geometry.h"

namespace mc::train {

// --- targets and ranks ---------------------------------------------------------------------------

inline constexpr const char* kCeilingSourceRmt = "RMT signal-rank";
inline constexpr const char* kCeilingSourceDataRank = "data-rank (fallback)";

/// The rank a module gets before coupling and ceilings: tail_dims if > 0, 1 if tail_dims = 0 and
/// spectral_gap > 0, else 0 (not a target).
int64_t base_rank(const geometry::LayerGeometry& g);

/// RMT summary of one decoder layer's probe activations (signal_rank_summary of the plan).
struct LayerSignal {
  int64_t layer = -1;
  int64_t n_probes = 0;                   // N
  int64_t dim = 0;                        // D
  int64_t signal_rank = 0;                // #{λ_i > λ₊}
  int64_t noise_rank = 0;                 // min(N − 1, D) − signal_rank: non-trivial eigenvalues below the edge
  double  act_erank = 0.0;                // exp(H(λ/Σλ))
  double  mp_upper_edge = 0.0;            // λ₊ = σ̂²(1 + √q)²
  double  noise_variance = 0.0;           // σ̂²
  double  signal_variance_fraction = 0.0; // Σ_signal λ / Σλ
};
/// Per decoder layer index; layers with fewer than 2 probes are absent.
using SignalRanks = std::map<int64_t, LayerSignal>;

/// Probes needed for a layer's signal rank: one centred sample has no variance.
inline constexpr int64_t kMinSignalProbes = 2;

/// Signal rank of one layer's activations X (N, D): centre the columns, singular values (double),
/// geometry::mp_signal_rank(s, N, D, centred = true).
LayerSignal layer_signal_rank(geometry::MatrixViewD x, int64_t layer);

/// signal ranks of per_layer[L] = X_L (N, D) for every L with N >= kMinSignalProbes.
SignalRanks signal_ranks(const std::vector<geometry::MatrixD>& per_layer);

/// A target module with its derived rank and bounds.
struct PlannedModule {
  size_t      geometry_index = 0;  // into the geometry list the plan was derived from
  std::string name;                // HF weight key ("....q_proj.weight")
  std::string module;              // HF module path
  int64_t     layer = -1;
  ProjRole    role = ProjRole::Q;
  int64_t     m = 0, n = 0;        // (out, in)
  bool        zero_tail = false;   // tail_dims = 0, targeted at rank 1 for its spectral gap
  int64_t     base_rank = 0;       // before coupling and ceiling
  int64_t     coupled_rank = 0;    // after r(q) = min(r(q), r(k))
  int64_t     rank = 0;            // final
  double      sigma_max = 0.0, sigma_k = 0.0, spectral_gap = 0.0;
  double      scale_bound = 0.0;   // S ∈ [0, scale_bound]
  double      decay_scale = 0.0;
  double      adam_eps_floor = 0.0;
  double      dropout = 0.0;       // the §3.13 formula's value (reported; 0 is applied)
};

struct RankPlan {
  std::vector<PlannedModule> modules;  // targets, in geometry order
  std::string                ceiling_source;
};

/// Targets, ranks and per-module bounds from the geometry (see the file header). `signal` may be null
/// or empty (then the data-rank fallback with n_train applies). Throws mc::Error("[plan] ...") when a
/// geometry value is non-finite, when no module is targetable, or for n_train < 1 without signal ranks.
RankPlan derive_targets(const std::vector<ModuleGeometry>& geometry, int64_t n_train, const SignalRanks* signal);

/// mc::Error("[plan] <module>: non-finite <quantity> ...") for the first NaN/Inf σ_max, σ_k, erank or gap.
void check_geometry_finite(const std::vector<ModuleGeometry>& geometry);

double scale_bound(const geometry::LayerGeometry& g, bool zero_tail);
double decay_scale(const geometry::LayerGeometry& g);
double adam_eps_floor(const geometry::LayerGeometry& g);
double dropout_formula(const geometry::LayerGeometry& g, int64_t rank);

/// Trainable parameters r·(in + out + 1) summed over the targets.
int64_t trainable_params(const std::vector<PlannedModule>& modules);

// --- MASS ceiling ---------------------------------------------------------------------------------

struct SpectralCeiling {
  double      sigma_k_min = 0.0;    // min σ_k over the targets
  double      sigma_max = 0.0;      // max σ_max over the targets
  double      eta_ceiling0 = 0.0;   // σ_k_min / σ_max
  std::string sigma_k_min_module;   // where the extremes are
  std::string sigma_max_module;
};

/// Throws mc::Error("[plan] insufficient_adapter_geometry: ...") when σ_k_min <= 0, σ_max <= 0 or
/// either is non-finite, or when there is no target.
SpectralCeiling spectral_ceiling(const std::vector<PlannedModule>& modules);

/// η⁰/√N_b when N_b > 1, else η⁰ (the √N random-walk epoch correction of §3.1).
double eta_ceiling(double eta_ceiling0, int64_t steps_per_epoch);

// --- batch, epoch, cap -----------------------------------------------------------------------------

/// Per-sample gradients probed for B_crit (training.md §3.8: the first 20 training samples at the
/// zero-delta start). A fixed constant upstream (§14 #9); kept for parity.
inline constexpr int64_t kCriticalBatchProbes = 20;

struct CriticalBatch {
  int64_t batch_size = 1;                // B = clamp(ceil(tr Σ/‖ḡ‖²), 1, n_train); 1 when degenerate
  int64_t n_probe = 0;                   // gradients used
  int64_t n_train = 0;
  double  grad_mean_sq_norm = 0.0;       // ‖ḡ‖² (biased estimate of ‖G‖²)
  double  trace_sigma = 0.0;             // (1/(n−1)) Σ‖g_i − ḡ‖²
  double  snr = 0.0;                     // ‖ḡ‖²/tr Σ
  double  b_simple = 0.0;                // tr Σ/‖ḡ‖² (what B uses, the project's form)
  double  grad_sq_norm_unbiased = 0.0;   // ‖ḡ‖² − tr Σ/n (unbiased estimate of ‖G‖²), logged only
  double  b_simple_unbiased = 0.0;       // tr Σ/(‖ḡ‖² − tr Σ/n); +inf when the denominator is <= 0
  std::string note;                      // why B = 1 when the estimate is degenerate
};

/// B_crit from per-sample gradient vectors (all the same length). Fewer than 2 gradients, snr <= 0 or
/// NaN give B = 1 (training.md §3.8). Sums in double. Throws mc::Error for n_train < 1, differing
/// lengths or a non-finite gradient entry.
CriticalBatch critical_batch(std::span<const std::vector<float>> grads, int64_t n_train);

/// ceil(n_train / B): optimizer steps per epoch N_b.
int64_t steps_per_epoch(int64_t n_train, int64_t batch_size);

/// Epochs of the safety cap: ⌈1/√ε⌉ = ⌈2896.309…⌉ (spec §1).
inline constexpr int64_t kSafetyCapEpochs = 2897;
/// max_iters = N_b · kSafetyCapEpochs.
int64_t safety_cap_iters(int64_t steps_per_epoch);

// --- output ----------------------------------------------------------------------------------------

/// <model's parent>/adapters/<model name>-geometric-lora-<seed> (DECISIONS.md #7); a trailing '/' of
/// the model path is ignored; a model path without parent gives "adapters/...".
std::string default_output_path(const std::string& model_path, uint32_t seed);

}  // namespace mc::train

// Derivations of the training plan (plan_derive.h): targets and ranks, bounds, the MASS ceiling,
// B_crit, the safety cap and the output path.
#include "train/plan_derive.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "core/error.h"
#include "geometry/spectrum.h"

namespace mc::train {

namespace {

constexpr double kSqrtEps = geometry::kSqrtEpsF32;
/// 1 − √ε: the safety margin of every bound (spec §1 "numeric floor").
constexpr double kSafetyMargin = 1.0 - kSqrtEps;

std::string fmt_g(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

// --- targets and ranks ---------------------------------------------------------------------------

int64_t base_rank(const geometry::LayerGeometry& g) {
  if (g.tail_dims > 0) return g.tail_dims;
  if (g.spectral_gap > 0.0) return 1;
  return 0;
}

LayerSignal layer_signal_rank(geometry::MatrixViewD x, int64_t layer) {
  geometry::check_matrix(x, "plan", "probe activations of layer " + std::to_string(layer));
  const int64_t N = x.rows, D = x.cols;
  if (N < kMinSignalProbes)
    throw Error("plan", "layer " + std::to_string(layer) + ": the RMT signal rank needs at least " +
                            std::to_string(kMinSignalProbes) + " probes, got " + std::to_string(N));
  geometry::MatrixD c(N, D);  // column-centred copy
  for (int64_t j = 0; j < D; ++j) {
    double mean = 0.0;
    for (int64_t i = 0; i < N; ++i) mean += x(i, j);
    mean /= static_cast<double>(N);
    for (int64_t i = 0; i < N; ++i) c(i, j) = x(i, j) - mean;
  }
  const std::vector<double> s = geometry::singular_values(c.view());
  const geometry::MpSignalRank mp = geometry::mp_signal_rank(s, N, D, /*centred=*/true);
  LayerSignal out;
  out.layer = layer;
  out.n_probes = N;
  out.dim = D;
  out.signal_rank = mp.signal_rank;
  const int64_t p = std::min<int64_t>(static_cast<int64_t>(s.size()), std::min(N - 1, D));
  out.noise_rank = std::max<int64_t>(0, p - mp.signal_rank);
  out.act_erank = mp.activation_erank;
  out.mp_upper_edge = mp.edge;
  out.noise_variance = mp.noise_variance;
  out.signal_variance_fraction = mp.signal_variance_fraction;
  return out;
}

SignalRanks signal_ranks(const std::vector<geometry::MatrixD>& per_layer) {
  SignalRanks out;
  for (size_t il = 0; il < per_layer.size(); ++il) {
    if (per_layer[il].rows < kMinSignalProbes) continue;  // rank kept (training.md §3.11)
    out[static_cast<int64_t>(il)] = layer_signal_rank(per_layer[il].view(), static_cast<int64_t>(il));
  }
  return out;
}

void check_geometry_finite(const std::vector<ModuleGeometry>& geometry) {
  for (const auto& m : geometry) {
    const std::pair<const char*, double> q[] = {{"sigma_max", m.geo.sigma_max},
                                                {"sigma_k", m.geo.sigma_k},
                                                {"shannon_effective_rank", m.geo.erank},
                                                {"spectral_gap", m.geo.spectral_gap}};
    for (const auto& [what, v] : q)
      if (!std::isfinite(v))
        throw Error("plan", m.name + ": non-finite " + what + " (" + fmt_g(v) + "); the weights hold NaN/Inf or the cache is corrupt");
  }
}

double scale_bound(const geometry::LayerGeometry& g, bool zero_tail) {
  return zero_tail ? g.spectral_gap / 4.0 * kSafetyMargin : g.sigma_k / 2.0 * kSafetyMargin;
}

double decay_scale(const geometry::LayerGeometry& g) { return g.sigma_max > 0.0 ? g.sigma_k / g.sigma_max : 1.0; }

double adam_eps_floor(const geometry::LayerGeometry& g) {
  return std::max(g.sigma_k * g.sigma_k, kSqrtEps * g.sigma_max * g.sigma_max);
}

double dropout_formula(const geometry::LayerGeometry& g, int64_t rank) {
  if (g.full_rank <= 0) return 0.0;
  const double fr = static_cast<double>(g.full_rank);
  return (1.0 - g.erank / fr) * (static_cast<double>(rank) / fr);
}

RankPlan derive_targets(const std::vector<ModuleGeometry>& geometry, int64_t n_train, const SignalRanks* signal) {
  check_geometry_finite(geometry);
  const bool use_signal = signal != nullptr && !signal->empty();
  if (!use_signal && n_train < 1) throw Error("plan", "no training sample: the data-rank ceiling needs n_train >= 1");

  RankPlan plan;
  plan.ceiling_source = use_signal ? kCeilingSourceRmt : kCeilingSourceDataRank;
  for (size_t i = 0; i < geometry.size(); ++i) {
    const ModuleGeometry& mg = geometry[i];
    const int64_t r = base_rank(mg.geo);
    if (r == 0) continue;
    PlannedModule p;
    p.geometry_index = i;
    p.name = mg.name;
    p.module = mg.module;
    p.layer = mg.layer;
    p.role = mg.role;
    p.m = mg.geo.m;
    p.n = mg.geo.n;
    p.zero_tail = mg.geo.tail_dims == 0;
    p.base_rank = r;
    p.coupled_rank = r;
    p.sigma_max = mg.geo.sigma_max;
    p.sigma_k = mg.geo.sigma_k;
    p.spectral_gap = mg.geo.spectral_gap;
    plan.modules.push_back(std::move(p));
  }
  if (plan.modules.empty())
    throw Error("plan", "no targetable module: every candidate has tail_dims = 0 and no spectral gap");

  // Attention coupling: queries cannot use more directions than keys distinguish (training.md §3.11).
  std::map<int64_t, int64_t> k_rank;
  for (const auto& p : plan.modules)
    if (p.role == ProjRole::K) k_rank[p.layer] = p.base_rank;
  for (auto& p : plan.modules)
    if (p.role == ProjRole::Q)
      if (auto it = k_rank.find(p.layer); it != k_rank.end()) p.coupled_rank = std::min(p.coupled_rank, it->second);

  for (auto& p : plan.modules) {
    int64_t r = p.coupled_rank;
    if (use_signal) {
      if (auto it = signal->find(p.layer); it != signal->end()) {
        const int64_t erank_cap = std::max<int64_t>(1, static_cast<int64_t>(std::floor(it->second.act_erank)));
        const int64_t signal_cap = std::max<int64_t>(1, it->second.signal_rank);
        r = std::min({r, erank_cap, signal_cap});
      }
    } else {
      r = std::min(r, n_train);
    }
    const geometry::LayerGeometry& g = geometry[p.geometry_index].geo;
    if (g.tail_dims > 0) r = std::min(r, g.tail_dims);  // zero-tail modules keep rank 1
    p.rank = r;
    p.scale_bound = scale_bound(g, p.zero_tail);
    p.decay_scale = decay_scale(g);
    p.adam_eps_floor = adam_eps_floor(g);
    p.dropout = dropout_formula(g, r);
  }
  return plan;
}

int64_t trainable_params(const std::vector<PlannedModule>& modules) {
  int64_t total = 0;
  for (const auto& p : modules) total += p.rank * (p.n + p.m + 1);
  return total;
}

// --- MASS ceiling ---------------------------------------------------------------------------------

SpectralCeiling spectral_ceiling(const std::vector<PlannedModule>& modules) {
  if (modules.empty()) throw Error("plan", "insufficient_adapter_geometry: no target module");
  SpectralCeiling c;
  c.sigma_k_min = std::numeric_limits<double>::infinity();
  c.sigma_max = -std::numeric_limits<double>::infinity();
  for (const auto& p : modules) {
    if (!std::isfinite(p.sigma_k) || !std::isfinite(p.sigma_max))
      throw Error("plan", "insufficient_adapter_geometry: " + p.name + " has a non-finite sigma_k or sigma_max");
    if (p.sigma_k < c.sigma_k_min) {
      c.sigma_k_min = p.sigma_k;
      c.sigma_k_min_module = p.name;
    }
    if (p.sigma_max > c.sigma_max) {
      c.sigma_max = p.sigma_max;
      c.sigma_max_module = p.name;
    }
  }
  if (!(c.sigma_k_min > 0.0))
    throw Error("plan", "insufficient_adapter_geometry: sigma_k_min = " + fmt_g(c.sigma_k_min) + " (" +
                            c.sigma_k_min_module + ") is not positive");
  if (!(c.sigma_max > 0.0))
    throw Error("plan", "insufficient_adapter_geometry: sigma_max = " + fmt_g(c.sigma_max) + " is not positive");
  c.eta_ceiling0 = c.sigma_k_min / c.sigma_max;
  return c;
}

double eta_ceiling(double eta_ceiling0, int64_t steps) {
  return steps > 1 ? eta_ceiling0 / std::sqrt(static_cast<double>(steps)) : eta_ceiling0;
}

// --- batch, epoch, cap -----------------------------------------------------------------------------

CriticalBatch critical_batch(std::span<const std::vector<float>> grads, int64_t n_train) {
  if (n_train < 1) throw Error("plan", "critical batch: no training sample");
  CriticalBatch b;
  b.n_train = n_train;
  b.n_probe = static_cast<int64_t>(grads.size());
  if (grads.size() < 2) {
    b.note = "fewer than 2 per-sample gradients";
    return b;
  }
  const size_t P = grads[0].size();
  std::vector<double> mean(P, 0.0);  // ḡ (P)
  for (size_t i = 0; i < grads.size(); ++i) {
    if (grads[i].size() != P) throw Error("plan", "critical batch: gradient vectors differ in length");
    for (size_t p = 0; p < P; ++p) {
      const double v = grads[i][p];
      if (!std::isfinite(v)) throw Error("plan", "critical batch: per-sample gradient " + std::to_string(i) + " is not finite");
      mean[p] += v;
    }
  }
  const double n = static_cast<double>(grads.size());
  for (double& v : mean) v /= n;
  double g2 = 0.0, ss = 0.0;
  for (double v : mean) g2 += v * v;
  for (const auto& g : grads)
    for (size_t p = 0; p < P; ++p) {
      const double d = static_cast<double>(g[p]) - mean[p];
      ss += d * d;
    }
  b.grad_mean_sq_norm = g2;
  b.trace_sigma = ss / (n - 1.0);
  b.snr = b.trace_sigma > 0.0 ? g2 / b.trace_sigma : (g2 > 0.0 ? std::numeric_limits<double>::infinity() : 0.0);
  b.b_simple = g2 > 0.0 ? b.trace_sigma / g2 : std::numeric_limits<double>::infinity();
  b.grad_sq_norm_unbiased = g2 - b.trace_sigma / n;
  b.b_simple_unbiased = b.grad_sq_norm_unbiased > 0.0 ? b.trace_sigma / b.grad_sq_norm_unbiased
                                                      : std::numeric_limits<double>::infinity();
  if (!(b.snr > 0.0)) {  // snr <= 0 or NaN (training.md §3.8)
    b.note = "gradient SNR is not positive (mean gradient is zero)";
    b.batch_size = 1;
    return b;
  }
  const double want = std::ceil(b.b_simple);  // finite: snr > 0 ⇒ ‖ḡ‖² > 0
  b.batch_size = static_cast<int64_t>(std::clamp(want, 1.0, static_cast<double>(n_train)));
  return b;
}

int64_t steps_per_epoch(int64_t n_train, int64_t batch_size) {
  MC_CHECK(n_train >= 1 && batch_size >= 1, "steps_per_epoch: n_train = ", n_train, ", B = ", batch_size);
  return (n_train + batch_size - 1) / batch_size;
}

int64_t safety_cap_iters(int64_t steps) { return steps * kSafetyCapEpochs; }

// --- output ----------------------------------------------------------------------------------------

std::string default_output_path(const std::string& model_path, uint32_t seed) {
  std::filesystem::path p(model_path);
  while (!p.empty() && !p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();  // "x/" → "x"
  const std::string name = p.filename().string();
  const std::filesystem::path parent = p.parent_path();
  const std::filesystem::path adapters = parent.empty() ? std::filesystem::path("adapters") : parent / "adapters";
  return (adapters / (name + "-geometric-lora-" + std::to_string(seed))).string();
}

}  // namespace mc::train

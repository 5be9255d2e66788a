// Norms, ranks, LayerGeometry, capacity metrics and the Marchenko–Pastur signal rank (see ranks.h).
#include "geometry/ranks.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "geometry/spectrum.h"

namespace mc::geometry {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846264338327950288;

void check_spectrum(std::span<const double> s) {
  for (size_t i = 0; i < s.size(); ++i) {
    MC_CHECK(std::isfinite(s[i]) && s[i] >= 0.0, "singular value ", i, " is ", s[i]);
    MC_CHECK(i == 0 || s[i] <= s[i - 1], "singular values not descending at ", i);
  }
}

double sum_sq(std::span<const double> s) {
  double t = 0.0;
  for (double v : s) t += v * v;
  return t;
}

double sum(std::span<const double> s) {
  double t = 0.0;
  for (double v : s) t += v;
  return t;
}

}  // namespace

double frobenius_norm(std::span<const double> s) {
  check_spectrum(s);
  return std::sqrt(sum_sq(s));
}

double spectral_norm(std::span<const double> s) {
  check_spectrum(s);
  return s.empty() ? 0.0 : s[0];
}

double nuclear_norm(std::span<const double> s) {
  check_spectrum(s);
  return sum(s);
}

double stable_rank(std::span<const double> s) {
  check_spectrum(s);
  if (s.empty() || s[0] == 0.0) return 0.0;
  return sum_sq(s) / (s[0] * s[0]);
}

double participation_ratio(std::span<const double> s) {
  check_spectrum(s);
  const double e = sum_sq(s);
  if (e == 0.0) return 0.0;
  const double t = sum(s);
  return t * t / e;
}

double spectral_entropy(std::span<const double> s, ErankWeights weights) {
  check_spectrum(s);
  const bool energy = weights == ErankWeights::Energy;
  const double total = energy ? sum_sq(s) : sum(s);
  if (total == 0.0) return 0.0;
  double h = 0.0;
  for (double v : s) {
    const double p = (energy ? v * v : v) / total;
    if (p > 0.0) h -= p * std::log(p);
  }
  return std::max(h, 0.0);  // rounding can leave −1e−17 for a single non-zero value
}

double shannon_effective_rank(std::span<const double> s, ErankWeights weights) {
  check_spectrum(s);
  if ((weights == ErankWeights::Energy ? sum_sq(s) : sum(s)) == 0.0) return 0.0;
  return std::exp(spectral_entropy(s, weights));
}

double renyi2_effective_rank(std::span<const double> s) {
  check_spectrum(s);
  double l1 = 0.0, l2 = 0.0;
  for (double v : s) {
    const double lambda = v * v;
    l1 += lambda;
    l2 += lambda * lambda;
  }
  return l2 == 0.0 ? 0.0 : l1 * l1 / l2;
}

int64_t count_above(std::span<const double> s, double threshold) {
  int64_t r = 0;
  for (double v : s) r += v > threshold ? 1 : 0;
  return r;
}

int64_t numerical_rank(std::span<const double> s, int64_t m, int64_t n, double eps) {
  check_spectrum(s);
  if (s.empty()) return 0;
  return count_above(s, s[0] * static_cast<double>(std::max(m, n)) * eps);
}

RecommendedRank recommended_rank(std::span<const double> s) {
  check_spectrum(s);
  if (s.empty()) return {0, kNaN};
  if (s[0] == 0.0) return {1, 1.0};
  if (s.size() == 1) return {1, kInf};
  RecommendedRank best{1, -1.0};
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] <= 0.0) break;  // descending: everything after is zero too
    const double ratio = s[i + 1] > 0.0 ? s[i] / s[i + 1] : kInf;
    if (ratio > best.gap_ratio) best = {static_cast<int64_t>(i) + 1, ratio};
  }
  return best;
}

double condition_number(std::span<const double> s, int64_t m, int64_t n, double eps) {
  const int64_t r = numerical_rank(s, m, n, eps);
  if (r == 0) return kNaN;
  return s[0] / s[static_cast<size_t>(r - 1)];
}

double condition_ratio(std::span<const double> s_after, std::span<const double> s_before, int64_t m, int64_t n,
                       double eps) {
  return condition_number(s_after, m, n, eps) / condition_number(s_before, m, n, eps);
}

LayerGeometry layer_geometry(std::span<const double> s, int64_t m, int64_t n, double total_energy) {
  check_spectrum(s);
  LayerGeometry g;
  g.m = m;
  g.n = n;
  g.full_rank = std::min(m, n);
  g.n_svs = static_cast<int64_t>(s.size());
  MC_CHECK(g.n_svs <= g.full_rank, "more singular values (", g.n_svs, ") than min(m, n) = ", g.full_rank);
  if (s.empty()) {
    g.tail_dims = g.full_rank;
    return g;
  }
  g.sigma_max = s[0];
  const RecommendedRank rr = recommended_rank(s);
  g.recommended_rank = rr.rank;
  g.recommended_gap_ratio = rr.gap_ratio;
  g.precision_rank = numerical_rank(s, m, n, kEpsF32);
  if (g.n_svs < g.full_rank && total_energy >= 0.0) {
    SpectrumEstimate e;
    e.s.assign(s.begin(), s.end());
    e.m = m;
    e.n = n;
    e.full_rank = g.full_rank;
    e.frobenius_sq = total_energy;
    e.exact = false;
    const std::vector<double> completed = spectrum_with_flat_tail(e);
    g.erank = shannon_effective_rank(completed, ErankWeights::Energy);
  } else {
    g.erank = shannon_effective_rank(s, ErankWeights::Energy);
  }
  g.k = std::max<int64_t>(1, std::min(static_cast<int64_t>(std::floor(g.erank)), g.n_svs - 1));
  g.sigma_k = s[static_cast<size_t>(g.k - 1)];
  if (g.sigma_k <= 0.0) {
    g.sigma_k = kTinyF32;
    for (double v : s)
      if (v > 0.0) g.sigma_k = v;  // the smallest positive one (descending order)
  }
  g.spectral_gap = g.k >= 2 ? s[static_cast<size_t>(g.k - 2)] - s[static_cast<size_t>(g.k - 1)] : g.sigma_k;
  g.tail_dims = std::max<int64_t>(0, g.full_rank - g.k);
  g.decay_ratio = g.sigma_max / g.sigma_k;
  g.is_targetable = g.tail_dims > 0;
  return g;
}

CapacityMetrics capacity_metrics(std::span<const double> s, int64_t m, int64_t n) {
  check_spectrum(s);
  CapacityMetrics c;
  const int64_t full = std::min(m, n);
  c.spectral_norm = spectral_norm(s);
  c.nuclear_norm = nuclear_norm(s);
  c.frobenius_norm = frobenius_norm(s);
  c.effective_rank = participation_ratio(s);
  c.stable_rank = stable_rank(s);
  c.numerical_rank_f32 = count_above(s, c.spectral_norm * kSqrtEpsF32);
  c.numerical_rank_f16 = count_above(s, c.spectral_norm * kSqrtEpsF16);
  c.null_space_dim_f32 = full - c.numerical_rank_f32;
  c.null_space_fraction = full > 0 ? static_cast<double>(c.null_space_dim_f32) / static_cast<double>(full) : 0.0;
  const RecommendedRank rr = recommended_rank(s);
  c.recommended_rank = rr.rank;
  c.spectral_gap_at_rank = rr.gap_ratio;
  c.capacity_utilization = full > 0 ? c.effective_rank / static_cast<double>(full) : 0.0;
  return c;
}

// --- Marchenko–Pastur ------------------------------------------------------------------------------

namespace {

/// Simpson panels for the MP CDF integral in θ: the integrand is smooth (no endpoint singularity after
/// the substitution), so the O(h⁴) error at h = π/4096 is far below the 1e-10 we promise.
constexpr int kMpSimpsonPanels = 4096;
constexpr int kMpBisectionSteps = 200;

/// CDF of MP(β, σ² = 1) at x ∈ [a, b]. Density f(t) = √((b−t)(t−a)) / (2πβt) on [a, b],
/// a = (1−√β)², b = (1+√β)². Substituting t = c + r cos θ (c = (a+b)/2, r = (b−a)/2) turns
/// √((b−t)(t−a)) dt into r² sin²θ dθ = (b−t)(t−a) dθ, so F(x) = ∫_{θx}^{π} (b−t)(t−a) / (2πβt) dθ.
double mp_cdf(double beta, double x) {
  const double sb = std::sqrt(beta);
  const double a = (1.0 - sb) * (1.0 - sb), b = (1.0 + sb) * (1.0 + sb);
  if (x <= a) return 0.0;
  if (x >= b) return 1.0;
  const double c = 0.5 * (a + b), r = 0.5 * (b - a);
  const double theta_x = std::acos(std::clamp((x - c) / r, -1.0, 1.0));
  auto g = [&](double theta) {
    const double t = c + r * std::cos(theta);
    // (b−t)(t−a)/t; for β = 1 (a = 0) this is b − t, finite at t = 0 where the general form is 0/0.
    const double v = a == 0.0 ? (b - t) : (b - t) * (t - a) / t;
    return v / (2.0 * kPi * beta);
  };
  const int n = kMpSimpsonPanels;
  const double h = (kPi - theta_x) / n;
  double acc = g(theta_x) + g(kPi);
  for (int i = 1; i < n; ++i) acc += (i % 2 ? 4.0 : 2.0) * g(theta_x + i * h);
  return acc * h / 3.0;
}

}  // namespace

double marchenko_pastur_median(double beta) {
  if (!(beta > 0.0 && beta <= 1.0)) throw Error("rmt", str("Marchenko-Pastur ratio beta = ", beta, " outside (0, 1]"));
  const double sb = std::sqrt(beta);
  double lo = (1.0 - sb) * (1.0 - sb), hi = (1.0 + sb) * (1.0 + sb);
  for (int i = 0; i < kMpBisectionSteps && hi - lo > 1e-15 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (mp_cdf(beta, mid) < 0.5 ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

MpSignalRank mp_signal_rank(std::span<const double> s, int64_t n_samples, int64_t dim, bool centred) {
  check_spectrum(s);
  const int64_t n_eff = centred ? n_samples - 1 : n_samples;
  if (n_eff < 1 || dim < 1)
    throw Error("rmt", str("need at least ", centred ? 2 : 1, " samples and 1 feature, got N = ", n_samples,
                           ", d = ", dim));
  MpSignalRank out;
  const size_t p = std::min(s.size(), static_cast<size_t>(std::min(n_eff, dim)));
  if (p == 0) return out;
  const double nn = static_cast<double>(n_eff);
  std::vector<double> lambda(p);
  for (size_t i = 0; i < p; ++i) lambda[i] = s[i] * s[i] / nn;
  std::vector<double> sorted = lambda;
  std::sort(sorted.begin(), sorted.end());
  const double median = p % 2 ? sorted[p / 2] : 0.5 * (sorted[p / 2 - 1] + sorted[p / 2]);
  const double q = static_cast<double>(dim) / nn;
  out.noise_variance = q <= 1.0 ? median / marchenko_pastur_median(q) : median / (q * marchenko_pastur_median(1.0 / q));
  out.edge = out.noise_variance * (1.0 + std::sqrt(q)) * (1.0 + std::sqrt(q));
  double total = 0.0, signal = 0.0;
  for (double l : lambda) {
    total += l;
    if (l > out.edge) {
      ++out.signal_rank;
      signal += l;
    }
  }
  out.signal_variance_fraction = total > 0.0 ? signal / total : 0.0;
  out.activation_erank = shannon_effective_rank(s, ErankWeights::Energy);
  return out;
}

}  // namespace mc::geometry

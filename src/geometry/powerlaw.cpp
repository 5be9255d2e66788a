// WeightWatcher 0.7.7's power-law fit of an ESD (see powerlaw.h for the procedure and its sources).
// Written from the published algorithm; sums Σ ln(x_j/x_i) are taken term by term (WeightWatcher
// subtracts n·ln x_i from a running sum), which only changes the last few bits.
#include "geometry/powerlaw.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace mc::geometry {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
/// WeightWatcher's small-N path treats Σ ln(x_j/x_min) at or below this as a degenerate tail.
constexpr double kWwDegenerateLogSum = 1e-12;

/// KS distance of the tail x[i..N) against the continuous power law with exponent alpha and x_min =
/// x[i], using the empirical CDF 0, 1/n, ..., (n−1)/n as WeightWatcher does.
double ks_distance(const std::vector<double>& x, size_t i, double alpha) {
  const size_t n = x.size() - i;
  const double nd = static_cast<double>(n);
  double d = 0.0;
  for (size_t j = 0; j < n; ++j) {
    const double theory = 1.0 - std::pow(x[i + j] / x[i], 1.0 - alpha);
    d = std::max(d, std::fabs(theory - static_cast<double>(j) / nd));
  }
  return d;
}

double log_sum_above(const std::vector<double>& logx, size_t i) {
  double s = 0.0;
  for (size_t j = i; j < logx.size(); ++j) s += logx[j] - logx[i];
  return s;
}

}  // namespace

PowerLawFit powerlaw_fit_ww(std::span<const double> evals) {
  std::vector<double> x;
  x.reserve(evals.size());
  for (double v : evals) {
    if (std::isnan(v)) throw Error("powerlaw", "eigenvalue list contains NaN");
    if (v > kWwEvalsThreshold) x.push_back(v);
  }
  std::sort(x.begin(), x.end());
  PowerLawFit fit;
  fit.num_evals = static_cast<int64_t>(x.size());
  const size_t N = x.size();
  if (N < 2) return fit;  // WeightWatcher: no x_min candidates, the fit fails

  std::vector<double> logx(N);
  for (size_t i = 0; i < N; ++i) logx[i] = std::log(x[i]);
  const size_t n_cand = N - 1;  // x_min candidates x[0..N−2]
  std::vector<double> alphas(n_cand, 0.0), ds(n_cand, 1.0);
  size_t best = 0;

  if (static_cast<int64_t>(N) >= kWwSmallNCutoff) {
    // Standard path: MLE α_i = 1 + n / Σ ln(x_j/x_i), x_min = first argmin of the KS distance.
    for (size_t i = 0; i < n_cand; ++i) {
      const double n = static_cast<double>(N - i);
      alphas[i] = 1.0 + n / log_sum_above(logx, i);  // Σ = 0 (a flat tail) gives +inf, as in numpy
      if (alphas[i] > 1.0) ds[i] = ks_distance(x, i, alphas[i]);
    }
    for (size_t i = 1; i < n_cand; ++i)
      if (ds[i] < ds[best]) best = i;
  } else {
    // Small-N path: bias-corrected MLE, tails of at least k_min values, objective J = D − 0.868/√n.
    fit.small_n = true;
    std::vector<double> js(n_cand, kInf);
    for (size_t i = 0; i < n_cand; ++i) {
      const size_t n_int = N - i;
      if (static_cast<int64_t>(n_int) < kWwSmallNMinTail) continue;
      const double n = static_cast<double>(n_int);
      const double s = log_sum_above(logx, i);
      if (s <= kWwDegenerateLogSum) continue;
      alphas[i] = 1.0 + (n - 1.0) / s;
      if (alphas[i] <= 1.0) continue;
      ds[i] = ks_distance(x, i, alphas[i]);
      js[i] = ds[i] - kWwSmallNTailReward / std::sqrt(n);
    }
    bool any = false;
    for (size_t i = 0; i < n_cand; ++i) any = any || std::isfinite(js[i]);
    // weightwatcher 0.7.7 computes J but WWFit.__init__ then re-selects i = np.argmin(self.Ds) over all
    // candidates (skipped ones keep D = 1), so the reported fit is at the first minimum of D.
    for (size_t i = 1; i < n_cand; ++i)
      if (ds[i] < ds[best]) best = i;
    if (!any) {
      // No candidate survived: the whole spectrum is the tail (x_min = x[0]).
      best = 0;
      const double n = static_cast<double>(N);
      const double s = log_sum_above(logx, 0);
      if (s <= kWwDegenerateLogSum) {
        fit.ok = true;
        fit.alpha = 1.0;
        fit.sigma = 0.0;
        fit.D = 1.0;
        fit.xmin = x[0];
        fit.xmax = x[N - 1];
        fit.num_pl_spikes = static_cast<int64_t>(N);
        return fit;
      }
      alphas[0] = 1.0 + (n - 1.0) / s;
      ds[0] = ks_distance(x, 0, alphas[0]);
      // WeightWatcher reports sigma from alphas[0] *before* this assignment (i.e. −1/√N); we report
      // the standard error of the α actually returned.
    }
  }

  fit.ok = true;
  fit.alpha = alphas[best];
  fit.D = ds[best];
  fit.xmin = x[best];
  fit.xmax = x[N - 1];
  fit.sigma = (alphas[best] - 1.0) / std::sqrt(static_cast<double>(N - best));
  int64_t spikes = 0;
  for (double v : x) spikes += v >= fit.xmin ? 1 : 0;
  fit.num_pl_spikes = spikes;
  return fit;
}

PowerLawFit esd_alpha(std::span<const double> singular_values) {
  if (static_cast<int64_t>(singular_values.size()) < kWwMinEvals) {
    PowerLawFit fit;
    fit.num_evals = static_cast<int64_t>(singular_values.size());
    return fit;
  }
  std::vector<double> evals(singular_values.size());
  for (size_t i = 0; i < evals.size(); ++i) evals[i] = singular_values[i] * singular_values[i];
  return powerlaw_fit_ww(evals);
}

}  // namespace mc::geometry

// Helpers for the backward-pass tests: double buffers, central finite differences of a scalar loss, and
// the error metric on double vectors.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernel_test_util.h"

namespace mc::test {

// Central differences with h = 1e-6 on O(1) inputs: truncation error h²·f'''/6 ≈ 1e-13, rounding error
// ≈ 1e-16·|L| / h ≈ 1e-10·|L| with the losses here (|L| ≲ 100), so a correct double reference matches to
// ≲ 1e-8 of the gradient's scale; 1e-7 leaves a margin and still catches any wrong term.
constexpr double kFdStep = 1e-6;
constexpr double kFdTol = 1e-7;

inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

inline std::vector<float> to_float(const std::vector<double>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

/// n values from N(0, scale²) as doubles (the same draws as randn).
inline std::vector<double> randn_d(size_t n, uint32_t seed, float scale = 1.0f) {
  return to_double(randn(n, seed, scale));
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

/// ∂loss/∂x[i] for every i by central differences; loss() reads x (which is restored afterwards).
template <class Loss>
std::vector<double> fd_gradient(std::vector<double>& x, Loss loss, double h = kFdStep) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double lp = loss();
    x[i] = x0 - h;
    const double lm = loss();
    x[i] = x0;
    g[i] = (lp - lm) / (2.0 * h);
  }
  return g;
}

/// max |a − b| / max |b| (b is the reference); max |a − b| when b is all zeros.
inline double max_rel_err_d(const std::vector<double>& a, const std::vector<double>& b) {
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    err = std::max(err, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return scale > 0 ? err / scale : err;
}

}  // namespace mc::test

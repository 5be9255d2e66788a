// Shared helpers for the kernel tests: seeded random buffers and the error metric fast-vs-reference
// comparisons use.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace mc::test {

/// n values from N(0, scale²), deterministic for a seed.
inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

/// max |a − b| / max |b| (b is the reference); max |a − b| when b is all zeros.
inline double max_rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0.0, scale = 0.0;
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0 ? err / scale : err;
}

// Fast kernels accumulate in fp32 where the references accumulate in double; over the reduction lengths
// tested here (≤ a few hundred) the difference stays below ~1e-6 of the output scale. 1e-5 is the bound.
constexpr double kFastVsRefTol = 1e-5;

}  // namespace mc::test

// Intrinsic-dimension properties (anchors.md §3.7.4, surface.md §12.2): TwoNN and the Levina–Bickel
// MLE recover d on points from d-dimensional linear subspaces and spheres embedded in a higher
// dimension (seeded), are invariant to rigid motions and scaling, handle duplicates as documented,
// and the exact kNN agrees with a naive search even where the Gram identity loses precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/intrinsic_dimension.h"

namespace mc::geometry {
namespace {

// surface.md §12.2: estimate within ±10 % of d for d ≤ 10 with N = 2000.
constexpr double kRecoveryRelTol = 0.10;
// Rigid motions and scaling change distances only by rounding; the ratios move by ~1e-15.
constexpr double kInvarianceRelTol = 1e-9;

/// Orthonormal rows (rows, cols), rows <= cols, by Gram–Schmidt in double.
std::vector<double> orthonormal_rows(int64_t rows, int64_t cols, Rng& rng) {
  std::vector<double> q(static_cast<size_t>(rows * cols));
  for (double& v : q) v = rng.normal();
  for (int64_t i = 0; i < rows; ++i) {
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t p = 0; p < i; ++p) {
        double dot = 0.0;
        for (int64_t j = 0; j < cols; ++j) dot += q[p * cols + j] * q[i * cols + j];
        for (int64_t j = 0; j < cols; ++j) q[i * cols + j] -= dot * q[p * cols + j];
      }
    double nrm = 0.0;
    for (int64_t j = 0; j < cols; ++j) nrm += q[i * cols + j] * q[i * cols + j];
    for (int64_t j = 0; j < cols; ++j) q[i * cols + j] /= std::sqrt(nrm);
  }
  return q;
}

/// N points (N, D) = Z (N, d) · B (d, D) with Gaussian Z and orthonormal rows B, as float.
std::vector<float> embed(const std::vector<double>& z, int64_t n, int64_t d, int64_t big_d, Rng& rng) {
  std::vector<double> b = orthonormal_rows(d, big_d, rng);
  std::vector<float> x(static_cast<size_t>(n * big_d));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < big_d; ++j) {
      double s = 0.0;
      for (int64_t p = 0; p < d; ++p) s += z[i * d + p] * b[p * big_d + j];
      x[i * big_d + j] = static_cast<float>(s);
    }
  return x;
}

std::vector<float> linear_subspace(int64_t n, int64_t d, int64_t big_d, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> z(static_cast<size_t>(n * d));
  for (double& v : z) v = rng.normal();
  return embed(z, n, d, big_d, rng);
}

/// Uniform points on the unit sphere S^d ⊂ R^{d+1}, rotated into R^D.
std::vector<float> sphere(int64_t n, int64_t d, int64_t big_d, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> z(static_cast<size_t>(n * (d + 1)));
  for (int64_t i = 0; i < n; ++i) {
    double nrm = 0.0;
    for (int64_t p = 0; p <= d; ++p) {
      z[i * (d + 1) + p] = rng.normal();
      nrm += z[i * (d + 1) + p] * z[i * (d + 1) + p];
    }
    for (int64_t p = 0; p <= d; ++p) z[i * (d + 1) + p] /= std::sqrt(nrm);
  }
  return embed(z, n, d + 1, big_d, rng);
}

TEST(IntrinsicDimension, TwoNNRecoversLinearSubspaceDimension) {
  const int64_t n = 2000, big_d = 30;
  for (int64_t d : {2, 5, 8}) {
    std::vector<float> x = linear_subspace(n, d, big_d, 100 + d);
    TwoNNResult r = twonn(MatrixViewF(x.data(), n, big_d));
    EXPECT_NEAR(r.dimension, d, kRecoveryRelTol * d) << "d = " << d;
    EXPECT_EQ(r.n_points, n);
    EXPECT_EQ(r.n_distinct, n);
    EXPECT_EQ(r.n_used, n);
    EXPECT_EQ(r.n_fit, static_cast<int64_t>(n * 0.9));
    MleResult m = mle_levina_bickel(MatrixViewF(x.data(), n, big_d));
    EXPECT_NEAR(m.dimension, d, kRecoveryRelTol * d) << "MLE d = " << d;
    EXPECT_EQ(m.k, kMleNeighbors);
  }
}

TEST(IntrinsicDimension, TwoNNRecoversSphereDimension) {
  const int64_t n = 2000, big_d = 20;
  for (int64_t d : {2, 4}) {
    std::vector<float> x = sphere(n, d, big_d, 200 + d);
    EXPECT_NEAR(twonn(MatrixViewF(x.data(), n, big_d)).dimension, d, kRecoveryRelTol * d) << "d = " << d;
    EXPECT_NEAR(mle_levina_bickel(MatrixViewF(x.data(), n, big_d)).dimension, d, kRecoveryRelTol * d) << "d = " << d;
  }
}

TEST(IntrinsicDimension, InvariantToRigidMotionAndScaling) {
  const int64_t n = 500, d = 4, big_d = 12;
  std::vector<float> xf = linear_subspace(n, d, big_d, 7);
  std::vector<double> x(xf.begin(), xf.end());
  Rng rng(8);
  std::vector<double> rot = orthonormal_rows(big_d, big_d, rng), shift(big_d);
  for (double& v : shift) v = 3.0 * rng.normal();
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < big_d; ++j) {
      double s = shift[j];
      for (int64_t p = 0; p < big_d; ++p) s += x[i * big_d + p] * rot[p * big_d + j];
      y[i * big_d + j] = 2.5 * s;
    }
  const double a = twonn(MatrixViewD(x.data(), n, big_d)).dimension;
  const double b = twonn(MatrixViewD(y.data(), n, big_d)).dimension;
  EXPECT_NEAR(a, b, kInvarianceRelTol * a);
  const double c = mle_levina_bickel(MatrixViewD(x.data(), n, big_d)).dimension;
  const double e = mle_levina_bickel(MatrixViewD(y.data(), n, big_d)).dimension;
  EXPECT_NEAR(c, e, kInvarianceRelTol * c);
}

TEST(IntrinsicDimension, DuplicatePolicies) {
  const int64_t n = 400, big_d = 10, n_dup = 30;
  std::vector<float> x = linear_subspace(n, 3, big_d, 9);
  std::vector<float> xd = x;
  for (int64_t i = 0; i < n_dup; ++i)  // append copies of rows 0, 7, 14, ...
    xd.insert(xd.end(), x.begin() + (7 * i) * big_d, x.begin() + (7 * i + 1) * big_d);
  MatrixViewF orig(x.data(), n, big_d), dup(xd.data(), n + n_dup, big_d);

  // Collapse: exactly the estimate of the distinct points.
  TwoNNResult a = twonn(orig), b = twonn(dup);
  EXPECT_EQ(b.n_points, n + n_dup);
  EXPECT_EQ(b.n_distinct, n);
  EXPECT_EQ(b.n_used, n);
  EXPECT_DOUBLE_EQ(a.dimension, b.dimension);
  EXPECT_DOUBLE_EQ(mle_levina_bickel(orig).dimension, mle_levina_bickel(dup).dimension);

  // DropZeroR1 (scikit-dimension): both copies of each duplicated point leave the estimate.
  TwoNNOptions o;
  o.duplicates = DuplicatePolicy::DropZeroR1;
  TwoNNResult c = twonn(dup, o);
  EXPECT_EQ(c.n_used, n + n_dup - 2 * n_dup);
  MleOptions mo;
  mo.duplicates = DuplicatePolicy::DropZeroR1;
  MleResult m = mle_levina_bickel(dup, mo);
  EXPECT_EQ(m.n_used, n - n_dup);
  EXPECT_GT(m.dimension, 0.0);
}

TEST(IntrinsicDimension, DegenerateInputsThrow) {
  std::vector<float> same(5 * 3, 1.0f);
  EXPECT_THROW(twonn(MatrixViewF(same.data(), 5, 3)), Error);
  EXPECT_THROW(mle_levina_bickel(MatrixViewF(same.data(), 5, 3)), Error);
  std::vector<float> two{0, 0, 1, 1};
  EXPECT_THROW(twonn(MatrixViewF(two.data(), 2, 2)), Error);
  // Collinear equally spaced points: every ratio r2/r1 is 1 or 2 … fine; a regular grid where all
  // kept ratios are exactly 1 has no slope.
  std::vector<float> line;
  for (int i = 0; i < 10; ++i) line.push_back(static_cast<float>(i));
  TwoNNOptions o;
  o.discard_fraction = 0.5;  // keeps only the interior points' ratios (all 1)
  EXPECT_THROW(twonn(MatrixViewF(line.data(), 10, 1), o), Error);
  std::vector<float> nan_pts{0, 1, 2, NAN, 4, 5};
  EXPECT_THROW(twonn(MatrixViewF(nan_pts.data(), 3, 2)), Error);
  o.discard_fraction = 1.0;
  std::vector<float> x = linear_subspace(50, 2, 4, 1);
  EXPECT_THROW(twonn(MatrixViewF(x.data(), 50, 4), o), Error);
}

TEST(IntrinsicDimension, MleClampsNeighboursAndAveragingOrder) {
  std::vector<float> x = linear_subspace(15, 2, 5, 3);
  MleResult r = mle_levina_bickel(MatrixViewF(x.data(), 15, 5));
  EXPECT_EQ(r.k, 14);  // k = 20 ≥ N: clamped to N − 1 as skdim does
  std::vector<float> y = linear_subspace(300, 3, 6, 4);
  MleOptions mean;
  mean.averaging = MleAveraging::Mean;
  // Jensen: the mean of d_i is at least the inverse of the mean of 1/d_i.
  EXPECT_GE(mle_levina_bickel(MatrixViewF(y.data(), 300, 6), mean).dimension,
            mle_levina_bickel(MatrixViewF(y.data(), 300, 6)).dimension);
}

TEST(IntrinsicDimension, BootstrapIntervalBracketsTheEstimate) {
  std::vector<float> x = linear_subspace(800, 4, 10, 12);
  TwoNNResult r = twonn(MatrixViewF(x.data(), 800, 10));
  ConfidenceInterval ci = twonn_bootstrap(r.mu);
  EXPECT_EQ(ci.resamples, 200);
  EXPECT_LT(ci.lo, r.dimension);
  EXPECT_GT(ci.hi, r.dimension);
  ConfidenceInterval again = twonn_bootstrap(r.mu);
  EXPECT_EQ(ci.lo, again.lo);  // seeded
}

/// Naive kNN reference: all exact distances, sorted by (distance, index).
void expect_knn_matches_naive(const std::vector<double>& x, int64_t n, int64_t d, int64_t k) {
  KnnGraph g = knn_exact(MatrixViewD(x.data(), n, d), k);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      double s = 0.0;
      for (int64_t p = 0; p < d; ++p) s += (x[i * d + p] - x[j * d + p]) * (x[i * d + p] - x[j * d + p]);
      all.emplace_back(s, j);
    }
    std::sort(all.begin(), all.end());
    for (int64_t c = 0; c < k; ++c) {
      EXPECT_EQ(g.index[i * k + c], all[c].second) << "point " << i << " neighbour " << c;
      EXPECT_DOUBLE_EQ(g.dist[i * k + c], std::sqrt(all[c].first));
    }
  }
}

TEST(IntrinsicDimension, KnnMatchesNaiveSearch) {
  Rng rng(4);
  const int64_t n = 150, d = 7;
  std::vector<double> x(static_cast<size_t>(n * d));
  for (double& v : x) v = rng.normal();
  expect_knn_matches_naive(x, n, d, 5);
  // Far from the origin with tiny spreads: ‖x‖² ≈ 1e10 while distances² ≈ 1e-6, so the Gram identity
  // alone is meaningless here; the exact re-check must still find the true neighbours.
  for (double& v : x) v = 1e5 + 1e-3 * v;
  expect_knn_matches_naive(x, n, d, 5);
  EXPECT_THROW(knn_exact(MatrixViewD(x.data(), n, d), n), Error);
}

}  // namespace
}  // namespace mc::geometry

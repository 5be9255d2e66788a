// Properties of the exact and randomized SVD (anchors.md §3.7.4): U·diag(s)·Vᵀ reconstructs A,
// ‖s‖₂ = ‖A‖_F, s sorted and non-negative, UᵀU = I, VᵀV = I, on tall, wide, square and rank-deficient
// shapes; the randomized SVD recovers a planted spectrum; the adaptive spectrum's tail accounting.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/ranks.h"
#include "geometry/spectrum.h"

namespace mc::geometry {
namespace {

// Double SVD residuals are a few ulps of σ_max·√(mn); 1e-12 relative leaves ample room.
constexpr double kDoubleRelTol = 1e-12;
// Single-precision gesdd: backward error ~ min(m,n)·2⁻²³·σ_max ≈ 1e-5 for these sizes.
constexpr double kSingleRelTol = 2e-5;
// Randomized SVD with q = 2 and a gap σ_k/σ_{k+1} ≥ 2 (surface.md §12.11): top-k within 1e-6.
constexpr double kRsvdRelTol = 1e-6;

std::vector<float> gaussian(int64_t m, int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> a(static_cast<size_t>(m * n));
  for (float& v : a) v = static_cast<float>(rng.normal());
  return a;
}

/// Orthonormal columns (rows, cols) by modified Gram–Schmidt on a Gaussian matrix, in double.
MatrixD random_orthonormal(int64_t rows, int64_t cols, uint64_t seed) {
  Rng rng(seed);
  MatrixD q(rows, cols);
  for (double& v : q.data) v = rng.normal();
  for (int64_t j = 0; j < cols; ++j) {
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t p = 0; p < j; ++p) {
        double dot = 0.0;
        for (int64_t i = 0; i < rows; ++i) dot += q(i, p) * q(i, j);
        for (int64_t i = 0; i < rows; ++i) q(i, j) -= dot * q(i, p);
      }
    double nrm = 0.0;
    for (int64_t i = 0; i < rows; ++i) nrm += q(i, j) * q(i, j);
    nrm = std::sqrt(nrm);
    for (int64_t i = 0; i < rows; ++i) q(i, j) /= nrm;
  }
  return q;
}

/// A = U diag(sigma) Vᵀ with random orthonormal U (m, r), V (n, r), r = sigma.size().
MatrixD planted(int64_t m, int64_t n, const std::vector<double>& sigma, uint64_t seed) {
  const int64_t r = static_cast<int64_t>(sigma.size());
  MatrixD u = random_orthonormal(m, r, seed), v = random_orthonormal(n, r, seed + 1);
  MatrixD a(m, n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t p = 0; p < r; ++p) s += u(i, p) * sigma[p] * v(j, p);
      a(i, j) = s;
    }
  return a;
}

void expect_valid_svd(const std::vector<float>& a, int64_t m, int64_t n, const Svd& svd, double tol) {
  const int64_t k = std::min(m, n);
  ASSERT_EQ(static_cast<int64_t>(svd.s.size()), k);
  ASSERT_EQ(svd.u.rows, m);
  ASSERT_EQ(svd.u.cols, k);
  ASSERT_EQ(svd.vt.rows, k);
  ASSERT_EQ(svd.vt.cols, n);
  const double smax = svd.s[0];
  double energy = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    EXPECT_GE(svd.s[i], 0.0);
    if (i > 0) {
      EXPECT_LE(svd.s[i], svd.s[i - 1]);
    }
    energy += svd.s[i] * svd.s[i];
  }
  const double fro2 = frobenius_sq(MatrixViewF(a.data(), m, n));
  EXPECT_NEAR(std::sqrt(energy), std::sqrt(fro2), tol * std::sqrt(fro2));
  double max_err = 0.0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double r = 0.0;
      for (int64_t p = 0; p < k; ++p) r += svd.u(i, p) * svd.s[p] * svd.vt(p, j);
      max_err = std::max(max_err, std::fabs(r - a[i * n + j]));
    }
  EXPECT_LT(max_err, tol * smax) << "reconstruction";
  double orth_u = 0.0, orth_v = 0.0;
  for (int64_t p = 0; p < k; ++p)
    for (int64_t q = 0; q < k; ++q) {
      double du = 0.0, dv = 0.0;
      for (int64_t i = 0; i < m; ++i) du += svd.u(i, p) * svd.u(i, q);
      for (int64_t j = 0; j < n; ++j) dv += svd.vt(p, j) * svd.vt(q, j);
      orth_u = std::max(orth_u, std::fabs(du - (p == q)));
      orth_v = std::max(orth_v, std::fabs(dv - (p == q)));
    }
  EXPECT_LT(orth_u, tol * 10) << "UᵀU = I";
  EXPECT_LT(orth_v, tol * 10) << "VᵀV = I";
}

struct Shape {
  int64_t m, n;
};

TEST(Spectrum, SvdReconstructsTallWideSquare) {
  for (Shape s : {Shape{37, 23}, Shape{23, 37}, Shape{31, 31}, Shape{1, 9}, Shape{9, 1}}) {
    SCOPED_TRACE(testing::Message() << s.m << "x" << s.n);
    std::vector<float> a = gaussian(s.m, s.n, 11 + s.m * 100 + s.n);
    expect_valid_svd(a, s.m, s.n, svd_thin(MatrixViewF(a.data(), s.m, s.n)), kDoubleRelTol);
    expect_valid_svd(a, s.m, s.n, svd_thin(MatrixViewF(a.data(), s.m, s.n), SvdPrecision::Single), kSingleRelTol);
  }
}

TEST(Spectrum, SvdOfRankDeficientMatrix) {
  // rank 4 product (40, 4)·(4, 30): singular values 5.. are rounding noise of the float product.
  const int64_t m = 40, n = 30, r = 4;
  std::vector<float> b = gaussian(m, r, 5), c = gaussian(r, n, 6), a(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t p = 0; p < r; ++p) s += static_cast<double>(b[i * r + p]) * c[p * n + j];
      a[i * n + j] = static_cast<float>(s);
    }
  Svd svd = svd_thin(MatrixViewF(a.data(), m, n));
  expect_valid_svd(a, m, n, svd, kDoubleRelTol);
  EXPECT_EQ(numerical_rank(svd.s, m, n, kEpsF32), r);
  EXPECT_LT(svd.s[r] / svd.s[0], 1e-6);
}

TEST(Spectrum, ValuesOnlyMatchesFullDecomposition) {
  std::vector<float> a = gaussian(50, 20, 3);
  MatrixViewF v(a.data(), 50, 20);
  std::vector<double> s = singular_values(v);
  Svd full = svd_thin(v);
  ASSERT_EQ(s.size(), full.s.size());
  for (size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(s[i], full.s[i], kDoubleRelTol * s[0]);
  std::vector<double> s32 = singular_values(v, SvdPrecision::Single);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(s32[i], s[i], kSingleRelTol * s[0]);
}

TEST(Spectrum, StridedViewEqualsContiguousCopy) {
  // A (10, 6) view into a (10, 9) buffer: the row stride must be honoured.
  std::vector<float> big = gaussian(10, 9, 8), small(60);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 6; ++j) small[i * 6 + j] = big[i * 9 + j];
  std::vector<double> s1 = singular_values(MatrixViewF(big.data(), 10, 6, 9));
  std::vector<double> s2 = singular_values(MatrixViewF(small.data(), 10, 6));
  for (size_t i = 0; i < s1.size(); ++i) EXPECT_DOUBLE_EQ(s1[i], s2[i]);
}

TEST(Spectrum, EmptyAndBadInput) {
  EXPECT_TRUE(singular_values(MatrixViewF(nullptr, 0, 5)).empty());
  Svd e = svd_thin(MatrixViewF(nullptr, 4, 0));
  EXPECT_EQ(e.u.rows, 4);
  EXPECT_EQ(e.u.cols, 0);
  std::vector<float> a = gaussian(4, 4, 1);
  a[5] = std::nanf("");
  EXPECT_THROW(singular_values(MatrixViewF(a.data(), 4, 4)), Error);
  a[5] = INFINITY;
  EXPECT_THROW(svd_thin(MatrixViewF(a.data(), 4, 4)), Error);
  EXPECT_THROW(singular_values(MatrixViewF(a.data(), 4, 4, 3)), Error);  // ld < cols
}

TEST(Spectrum, RandomizedSvdRecoversPlantedSpectrum) {
  // σ_i = 2^{-i/2}: σ_k/σ_{k+p} is large for the oversampled subspace; the top 8 must match to 1e-6.
  const int64_t m = 300, n = 200, k = 8;
  std::vector<double> sigma(60);
  for (size_t i = 0; i < sigma.size(); ++i) sigma[i] = std::pow(2.0, -0.5 * static_cast<double>(i));
  MatrixD a = planted(m, n, sigma, 21);
  RandomizedSvdOptions o;
  o.rank = k;
  o.seed = 7;
  Svd r = randomized_svd(a.view(), o);
  ASSERT_EQ(static_cast<int64_t>(r.s.size()), k);
  for (int64_t i = 0; i < k; ++i) EXPECT_NEAR(r.s[i], sigma[i], kRsvdRelTol * sigma[i]) << i;
  // U, V orthonormal and U diag(s) Vᵀ close to the rank-k truncation.
  for (int64_t p = 0; p < k; ++p)
    for (int64_t q = 0; q < k; ++q) {
      double du = 0.0, dv = 0.0;
      for (int64_t i = 0; i < m; ++i) du += r.u(i, p) * r.u(i, q);
      for (int64_t j = 0; j < n; ++j) dv += r.vt(p, j) * r.vt(q, j);
      EXPECT_NEAR(du, p == q ? 1.0 : 0.0, 1e-10);
      EXPECT_NEAR(dv, p == q ? 1.0 : 0.0, 1e-10);
    }
  // The best rank-k approximation error ‖A − A_k‖₂ = σ_{k+1}: ours must be within 1e-6 of it.
  double worst = 0.0;
  Svd exact = svd_thin(a.view());
  MatrixD ak(m, n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t p = 0; p < k; ++p) s += r.u(i, p) * r.s[p] * r.vt(p, j);
      ak(i, j) = a(i, j) - s;
    }
  worst = singular_values(ak.view())[0];
  EXPECT_NEAR(worst, exact.s[k], 1e-6);

  // Float input: the products run in single precision.
  std::vector<float> af(a.data.begin(), a.data.end());
  o.vectors = false;
  Svd rf = randomized_svd(MatrixViewF(af.data(), m, n), o);
  EXPECT_TRUE(rf.u.data.empty());
  for (int64_t i = 0; i < k; ++i) EXPECT_NEAR(rf.s[i], sigma[i], kSingleRelTol * sigma[0]) << i;
}

TEST(Spectrum, RandomizedSvdRejectsBadRank) {
  std::vector<float> a = gaussian(10, 6, 2);
  RandomizedSvdOptions o;
  o.rank = 7;
  EXPECT_THROW(randomized_svd(MatrixViewF(a.data(), 10, 6), o), Error);
  o.rank = 0;
  EXPECT_THROW(randomized_svd(MatrixViewF(a.data(), 10, 6), o), Error);
}

TEST(Spectrum, AdaptiveSpectrumExactForSmallMatrices) {
  std::vector<float> a = gaussian(40, 30, 4);
  SpectrumEstimate e = spectrum_estimate(MatrixViewF(a.data(), 40, 30));
  EXPECT_TRUE(e.exact);
  EXPECT_EQ(e.rounds, 0);
  EXPECT_EQ(static_cast<int64_t>(e.s.size()), 30);
  EXPECT_EQ(spectrum_with_flat_tail(e), e.s);
}

TEST(Spectrum, AdaptiveSpectrumRandomizedPathAccountsForTail) {
  // Spectrum with 20 strong values and a weak flat tail: the randomized rounds stop once the uncaptured
  // energy is below the tolerance, and the flat-tail completion restores ‖A‖_F² up to that fraction.
  const int64_t m = 200, n = 120;
  std::vector<double> sigma(n);
  for (int64_t i = 0; i < n; ++i) sigma[i] = i < 20 ? 10.0 / (1.0 + i) : 1e-3;
  MatrixD a = planted(m, n, sigma, 33);
  SpectrumOptions o;
  o.exact_max_dim = 50;  // force the randomized path
  o.seed = 5;
  SpectrumEstimate e = spectrum_estimate(a.view(), o);
  EXPECT_FALSE(e.exact);
  EXPECT_GE(e.rounds, 1);
  EXPECT_LT(e.tail_energy_fraction, o.tail_tolerance);
  EXPECT_EQ(static_cast<int64_t>(e.s.size()), std::min<int64_t>(256, std::max<int64_t>(16, n / 2)));
  for (int i = 0; i < 20; ++i) EXPECT_NEAR(e.s[i], sigma[i], 1e-8 * sigma[0]);
  std::vector<double> full = spectrum_with_flat_tail(e);
  ASSERT_EQ(static_cast<int64_t>(full.size()), n);
  double energy = 0.0;
  for (double v : full) energy += v * v;
  EXPECT_NEAR(energy, e.frobenius_sq, e.tail_energy_fraction * e.frobenius_sq + 1e-12 * e.frobenius_sq);
  // Layer geometry from the truncated spectrum plus exact energy equals the one from the full one to
  // the precision of the tail model (here the tail *is* flat, so erank agrees closely).
  LayerGeometry g_trunc = layer_geometry(e.s, m, n, e.frobenius_sq);
  LayerGeometry g_full = layer_geometry(singular_values(a.view()), m, n);
  EXPECT_NEAR(g_trunc.erank, g_full.erank, 1e-5 * g_full.erank);
  EXPECT_EQ(g_trunc.k, g_full.k);
}

TEST(Spectrum, AdaptiveSpectrumFallsBackToExact) {
  // A flat spectrum never reaches the tail tolerance with k < full rank: after the rounds, exact SVD.
  std::vector<float> a = gaussian(120, 100, 9);
  SpectrumOptions o;
  o.exact_max_dim = 10;
  SpectrumEstimate e = spectrum_estimate(MatrixViewF(a.data(), 120, 100), o);
  EXPECT_TRUE(e.exact);
  EXPECT_EQ(static_cast<int64_t>(e.s.size()), 100);
}

}  // namespace
}  // namespace mc::geometry

// CKA properties (anchors.md §3.7.4, surface.md §12.1): CKA(X, X) = 1, symmetry, invariance to
// orthogonal transforms, isotropic scaling and translation, CKA ∈ [0, 1] (biased), the Gram and
// feature-space forms agree, unbiased HSIC is ≈ 0 on independent data, mismatched n is an error.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/cka.h"

namespace mc::geometry {
namespace {

// Double arithmetic on n ≤ 100 sample sums: identities hold to ~1e-13; we allow 1e-10.
constexpr double kTol = 1e-10;

std::vector<double> gaussian(int64_t n, int64_t d, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> x(static_cast<size_t>(n * d));
  for (double& v : x) v = rng.normal();
  return x;
}

/// Y = X·W + noise: a representation related to X.
std::vector<double> related(const std::vector<double>& x, int64_t n, int64_t p, int64_t q, double noise,
                            uint64_t seed) {
  Rng rng(seed);
  std::vector<double> w(static_cast<size_t>(p * q)), y(static_cast<size_t>(n * q));
  for (double& v : w) v = rng.normal();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < q; ++j) {
      double s = noise * rng.normal();
      for (int64_t k = 0; k < p; ++k) s += x[i * p + k] * w[k * q + j];
      y[i * q + j] = s;
    }
  return y;
}

/// X·Q·c + 1·bᵀ with a random orthogonal Q (d, d).
std::vector<double> transform(const std::vector<double>& x, int64_t n, int64_t d, double c, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> q(static_cast<size_t>(d * d)), b(d);
  for (double& v : q) v = rng.normal();
  for (int64_t i = 0; i < d; ++i) {  // Gram–Schmidt on rows
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t p = 0; p < i; ++p) {
        double dot = 0.0;
        for (int64_t j = 0; j < d; ++j) dot += q[p * d + j] * q[i * d + j];
        for (int64_t j = 0; j < d; ++j) q[i * d + j] -= dot * q[p * d + j];
      }
    double nrm = 0.0;
    for (int64_t j = 0; j < d; ++j) nrm += q[i * d + j] * q[i * d + j];
    for (int64_t j = 0; j < d; ++j) q[i * d + j] /= std::sqrt(nrm);
  }
  for (double& v : b) v = 10.0 * rng.normal();
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double s = 0.0;
      for (int64_t k = 0; k < d; ++k) s += x[i * d + k] * q[k * d + j];
      y[i * d + j] = c * s + b[j];
    }
  return y;
}

struct Variant {
  CkaKernel kernel;
  HsicEstimator estimator;
};
const Variant kVariants[] = {{CkaKernel::Linear, HsicEstimator::Biased},
                             {CkaKernel::Linear, HsicEstimator::Unbiased},
                             {CkaKernel::Rbf, HsicEstimator::Biased},
                             {CkaKernel::Rbf, HsicEstimator::Unbiased}};

CkaOptions options(Variant v) {
  CkaOptions o;
  o.kernel = v.kernel;
  o.estimator = v.estimator;
  o.rbf_sigma_frac = 0.8;
  return o;
}

TEST(Cka, SelfSimilaritySymmetryAndInvariances) {
  // (n, p, q) both with n > p (feature form for linear) and n < p (Gram form).
  struct Shape {
    int64_t n, p, q;
  };
  for (Shape s : {Shape{60, 8, 5}, Shape{12, 40, 25}}) {
    std::vector<double> x = gaussian(s.n, s.p, 1), y = related(x, s.n, s.p, s.q, 2.0, 2);
    MatrixViewD xv(x.data(), s.n, s.p), yv(y.data(), s.n, s.q);
    std::vector<double> xt = transform(x, s.n, s.p, 3.7, 3);
    MatrixViewD xtv(xt.data(), s.n, s.p);
    for (Variant v : kVariants) {
      SCOPED_TRACE(testing::Message() << "n=" << s.n << " kernel=" << static_cast<int>(v.kernel)
                                      << " estimator=" << static_cast<int>(v.estimator));
      const CkaOptions o = options(v);
      EXPECT_NEAR(cka(xv, xv, o).cka, 1.0, kTol);
      const CkaResult xy = cka(xv, yv, o), yx = cka(yv, xv, o);
      EXPECT_NEAR(xy.cka, yx.cka, kTol);
      EXPECT_NEAR(xy.hsic_xy, yx.hsic_xy, kTol * std::fabs(xy.hsic_xy));
      // Orthogonal transform + isotropic scaling + translation of X leaves CKA unchanged
      // (RBF: the median-heuristic bandwidth scales with the data, so it is invariant too).
      EXPECT_NEAR(cka(xtv, yv, o).cka, xy.cka, kTol);
      if (v.estimator == HsicEstimator::Biased) {
        EXPECT_GE(xy.cka, 0.0);
        EXPECT_LE(xy.cka, 1.0 + kTol);
        EXPECT_GE(xy.hsic_xx, 0.0);
      }
      EXPECT_LE(std::fabs(xy.cka), 1.0 + kTol);
    }
  }
}

TEST(Cka, LinearGramFormEqualsFeatureForm) {
  // The same data through hsic() on explicit Gram matrices and through cka() (feature form here).
  const int64_t n = 50, p = 6, q = 4;
  std::vector<double> x = gaussian(n, p, 5), y = related(x, n, p, q, 1.0, 6);
  MatrixViewD xv(x.data(), n, p), yv(y.data(), n, q);
  MatrixD k = gram_linear(xv), l = gram_linear(yv);
  for (HsicEstimator e : {HsicEstimator::Biased, HsicEstimator::Unbiased}) {
    CkaOptions o;
    o.estimator = e;
    CkaResult r = cka(xv, yv, o);
    EXPECT_NEAR(r.hsic_xy, hsic(k, l, e), kTol * std::fabs(r.hsic_xy));
    EXPECT_NEAR(r.hsic_xx, hsic(k, k, e), kTol * r.hsic_xx);
    EXPECT_NEAR(r.hsic_yy, hsic(l, l, e), kTol * r.hsic_yy);
  }
}

TEST(Cka, UnbiasedHsicIsNearZeroForIndependentData) {
  // Biased linear CKA of independent data with d ≫ n is far from 0; the unbiased one averages to ≈ 0.
  const int64_t n = 20, p = 200, q = 150, trials = 20;
  double biased = 0.0, unbiased = 0.0;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> x = gaussian(n, p, 100 + t), y = gaussian(n, q, 200 + t);
    MatrixViewD xv(x.data(), n, p), yv(y.data(), n, q);
    biased += cka(xv, yv).cka;
    CkaOptions o;
    o.estimator = HsicEstimator::Unbiased;
    unbiased += cka(xv, yv, o).cka;
  }
  biased /= trials;
  unbiased /= trials;
  EXPECT_GT(biased, 0.5);
  EXPECT_LT(std::fabs(unbiased), 0.05);
}

TEST(Cka, AutoEstimatorAndBandwidth) {
  std::vector<double> x = gaussian(10, 30, 7), y = gaussian(10, 3, 8);
  CkaOptions o;
  o.estimator = HsicEstimator::Auto;
  EXPECT_EQ(cka(MatrixViewD(x.data(), 10, 30), MatrixViewD(y.data(), 10, 3), o).estimator, HsicEstimator::Unbiased);
  std::vector<double> x2 = gaussian(40, 3, 9), y2 = gaussian(40, 2, 10);
  EXPECT_EQ(cka(MatrixViewD(x2.data(), 40, 3), MatrixViewD(y2.data(), 40, 2), o).estimator, HsicEstimator::Biased);
  // RBF bandwidth scales with the data.
  double s1 = 0, s2 = 0;
  std::vector<double> x3 = x2;
  for (double& v : x3) v *= 5.0;
  gram_rbf(MatrixViewD(x2.data(), 40, 3), 0.5, &s1);
  gram_rbf(MatrixViewD(x3.data(), 40, 3), 0.5, &s2);
  EXPECT_NEAR(s2, 5.0 * s1, 1e-12 * s2);
}

TEST(Cka, BadInput) {
  std::vector<double> x = gaussian(10, 3, 1), y = gaussian(9, 3, 2);
  EXPECT_THROW(cka(MatrixViewD(x.data(), 10, 3), MatrixViewD(y.data(), 9, 3)), Error);
  CkaOptions o;
  o.estimator = HsicEstimator::Unbiased;
  EXPECT_THROW(cka(MatrixViewD(x.data(), 3, 3), MatrixViewD(x.data(), 3, 3), o), Error);  // n < 4
  EXPECT_THROW(cka(MatrixViewD(x.data(), 1, 3), MatrixViewD(x.data(), 1, 3)), Error);        // n < 2
  std::vector<double> same(30, 2.0);
  o = CkaOptions{};
  o.kernel = CkaKernel::Rbf;
  EXPECT_THROW(cka(MatrixViewD(same.data(), 10, 3), MatrixViewD(x.data(), 10, 3), o), Error);  // median 0
  o.kernel = CkaKernel::Linear;
  EXPECT_TRUE(std::isnan(cka(MatrixViewD(same.data(), 10, 3), MatrixViewD(x.data(), 10, 3), o).cka));
  x[4] = NAN;
  EXPECT_THROW(cka(MatrixViewD(x.data(), 10, 3), MatrixViewD(x.data(), 10, 3)), Error);
  o.rbf_sigma_frac = 0.0;
  o.kernel = CkaKernel::Rbf;
  std::vector<double> z = gaussian(10, 3, 3);
  EXPECT_THROW(cka(MatrixViewD(z.data(), 10, 3), MatrixViewD(z.data(), 10, 3), o), Error);
}

}  // namespace
}  // namespace mc::geometry

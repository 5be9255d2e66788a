// Power-law fit properties: α recovered on exact Pareto samples, the small-N path, thresholds and
// the not-fitted cases. Agreement with WeightWatcher itself is the golden test's job.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/powerlaw.h"

namespace mc::geometry {
namespace {

/// n samples of a continuous Pareto law p(x) ∝ x^{−alpha} on [xmin, ∞) by inversion.
std::vector<double> pareto(int64_t n, double alpha, double xmin, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> x(static_cast<size_t>(n));
  for (double& v : x) v = xmin * std::pow(1.0 - rng.uniform(), -1.0 / (alpha - 1.0));
  return x;
}

TEST(PowerLaw, RecoversExponentOfAParetoSample) {
  // MLE standard error (α−1)/√n ≈ 0.045 at n = 2000; allow 4 standard errors.
  for (double alpha : {2.0, 3.0, 4.5}) {
    std::vector<double> x = pareto(2000, alpha, 0.5, 17);
    PowerLawFit f = powerlaw_fit_ww(x);
    ASSERT_TRUE(f.ok);
    EXPECT_FALSE(f.small_n);
    EXPECT_NEAR(f.alpha, alpha, 4 * (alpha - 1) / std::sqrt(static_cast<double>(f.num_pl_spikes))) << alpha;
    EXPECT_GT(f.D, 0.0);
    EXPECT_LT(f.D, 0.1);
    EXPECT_GT(f.sigma, 0.0);
    EXPECT_EQ(f.num_evals, 2000);
    EXPECT_GE(f.xmin, 0.5);
    EXPECT_LE(f.num_pl_spikes, 2000);
    EXPECT_GT(f.num_pl_spikes, 50);
  }
}

TEST(PowerLaw, ExponentIsScaleInvariant) {
  std::vector<double> x = pareto(500, 2.5, 1.0, 3), y = x;
  for (double& v : y) v *= 37.0;
  PowerLawFit a = powerlaw_fit_ww(x), b = powerlaw_fit_ww(y);
  EXPECT_NEAR(a.alpha, b.alpha, 1e-9 * a.alpha);
  EXPECT_NEAR(b.xmin, 37.0 * a.xmin, 1e-9 * b.xmin);
  EXPECT_EQ(a.num_pl_spikes, b.num_pl_spikes);
}

TEST(PowerLaw, SmallNPathAndThreshold) {
  // 12 eigenvalues above the threshold plus 5 at or below it: the small-N fit over the 12.
  std::vector<double> x = pareto(12, 3.0, 1.0, 5);
  for (int i = 0; i < 5; ++i) x.push_back(1e-6 * i);
  PowerLawFit f = powerlaw_fit_ww(x);
  ASSERT_TRUE(f.ok);
  EXPECT_TRUE(f.small_n);
  EXPECT_EQ(f.num_evals, 12);
  // Candidates need ≥ 8 tail values: x_min is one of the 5 smallest of the 12.
  EXPECT_GE(f.num_pl_spikes, 8);
  EXPECT_GT(f.alpha, 1.0);
}

TEST(PowerLaw, NotFittedCases) {
  EXPECT_FALSE(powerlaw_fit_ww(std::vector<double>{}).ok);
  EXPECT_FALSE(powerlaw_fit_ww(std::vector<double>{1.0, 1e-6}).ok);  // one value above threshold
  // esd_alpha skips matrices with fewer than 8 singular values, as WeightWatcher's min_evals does.
  PowerLawFit f = esd_alpha(std::vector<double>{5, 4, 3, 2, 1, 0.5, 0.25});
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.alpha, -1.0);
  EXPECT_THROW(powerlaw_fit_ww(std::vector<double>{1.0, std::nan("")}), Error);
}

TEST(PowerLaw, EsdAlphaSquaresSingularValues) {
  std::vector<double> lambda = pareto(300, 3.5, 1.0, 8), sv(lambda.size());
  for (size_t i = 0; i < sv.size(); ++i) sv[i] = std::sqrt(lambda[i]);
  PowerLawFit a = esd_alpha(sv), b = powerlaw_fit_ww(lambda);
  EXPECT_NEAR(a.alpha, b.alpha, 1e-9 * b.alpha);
  EXPECT_EQ(a.num_pl_spikes, b.num_pl_spikes);
}

}  // namespace
}  // namespace mc::geometry

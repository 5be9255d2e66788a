// Properties of the rank measures (anchors.md §3.7.4, surface.md §12.3–4): effective ranks in
// [1, min(m,n)] and maximal for orthogonal matrices, stable ≤ participation ≤ exact rank, the
// training.md §2 LayerGeometry on hand-worked spectra, the knee edge cases, and the MP signal rank.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/ranks.h"
#include "geometry/spectrum.h"

namespace mc::geometry {
namespace {

// Closed-form checks on double arithmetic of a handful of terms: a few ulps.
constexpr double kTol = 1e-12;

std::vector<float> gaussian(int64_t m, int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> a(static_cast<size_t>(m * n));
  for (float& v : a) v = static_cast<float>(rng.normal());
  return a;
}

TEST(Ranks, ThresholdConstantsAreTheirDefinitions) {
  EXPECT_EQ(kEpsF32, static_cast<double>(std::numeric_limits<float>::epsilon()));
  EXPECT_EQ(kEpsF64, std::numeric_limits<double>::epsilon());
  EXPECT_EQ(kTinyF32, static_cast<double>(std::numeric_limits<float>::min()));
  EXPECT_DOUBLE_EQ(kSqrtEpsF32, std::sqrt(kEpsF32));
  EXPECT_DOUBLE_EQ(kSqrtEpsF16, std::sqrt(kEpsF16));
  EXPECT_DOUBLE_EQ(kSpectrumTailTolerance, std::sqrt(kEpsF32));
}

TEST(Ranks, OrthogonalMatrixHasMaximalEffectiveRank) {
  // The left singular vectors of a Gaussian matrix form an orthogonal matrix Q: σ(Q) are all 1.
  const int64_t n = 24;
  std::vector<float> g = gaussian(n, n, 1);
  Svd svd = svd_thin(MatrixViewF(g.data(), n, n));
  std::vector<double> s = singular_values(svd.u.view());
  for (double v : s) EXPECT_NEAR(v, 1.0, 1e-12);
  EXPECT_NEAR(shannon_effective_rank(s, ErankWeights::Energy), n, 1e-9);
  EXPECT_NEAR(shannon_effective_rank(s, ErankWeights::SingularValues), n, 1e-9);
  EXPECT_NEAR(spectral_entropy(s, ErankWeights::Energy), std::log(static_cast<double>(n)), 1e-11);
  EXPECT_NEAR(stable_rank(s), n, 1e-9);
  EXPECT_NEAR(participation_ratio(s), n, 1e-9);
  EXPECT_NEAR(renyi2_effective_rank(s), n, 1e-9);
}

TEST(Ranks, BoundsOnRandomAndRankDeficientMatrices) {
  struct Case {
    int64_t m, n, rank;
  };
  for (Case c : {Case{30, 20, 20}, Case{20, 45, 20}, Case{33, 33, 33}, Case{40, 30, 5}, Case{25, 25, 1}}) {
    SCOPED_TRACE(testing::Message() << c.m << "x" << c.n << " rank " << c.rank);
    std::vector<float> b = gaussian(c.m, c.rank, 2), d = gaussian(c.rank, c.n, 3);
    std::vector<double> a(static_cast<size_t>(c.m * c.n));
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double s = 0.0;
        for (int64_t p = 0; p < c.rank; ++p) s += static_cast<double>(b[i * c.rank + p]) * d[p * c.n + j];
        a[i * c.n + j] = s;
      }
    std::vector<double> s = singular_values(MatrixViewD(a.data(), c.m, c.n));
    const double full = static_cast<double>(std::min(c.m, c.n));
    for (ErankWeights w : {ErankWeights::Energy, ErankWeights::SingularValues}) {
      const double er = shannon_effective_rank(s, w);
      EXPECT_GE(er, 1.0 - kTol);
      EXPECT_LE(er, full + kTol);
      EXPECT_GE(spectral_entropy(s, w), 0.0);
      EXPECT_LE(spectral_entropy(s, w), std::log(full) + kTol);
    }
    const int64_t r = numerical_rank(s, c.m, c.n, kEpsF64 * 100);  // exact rank of the double product
    EXPECT_EQ(r, c.rank);
    EXPECT_LE(stable_rank(s), participation_ratio(s) + kTol);
    EXPECT_LE(participation_ratio(s), static_cast<double>(r) + kTol);
    EXPECT_LE(renyi2_effective_rank(s), shannon_effective_rank(s, ErankWeights::Energy) + kTol);
    EXPECT_GE(stable_rank(s), 1.0 - kTol);
    const CapacityMetrics cm = capacity_metrics(s, c.m, c.n);
    EXPECT_LE(cm.numerical_rank_f16, cm.numerical_rank_f32);
    EXPECT_GE(cm.null_space_fraction, 0.0);
    EXPECT_LE(cm.null_space_fraction, 1.0);
    EXPECT_GE(cm.recommended_rank, 1);
    EXPECT_LE(cm.recommended_rank, std::min(c.m, c.n));
    if (c.rank == 1) {
      EXPECT_NEAR(shannon_effective_rank(s, ErankWeights::Energy), 1.0, 1e-12);
      EXPECT_NEAR(spectral_entropy(s, ErankWeights::Energy), 0.0, 1e-12);
    }
  }
}

TEST(Ranks, NormsOfAKnownSpectrum) {
  const std::vector<double> s{3.0, 4.0 / 3.0, 0.0};  // descending
  EXPECT_DOUBLE_EQ(spectral_norm(s), 3.0);
  EXPECT_NEAR(nuclear_norm(s), 3.0 + 4.0 / 3.0, kTol);
  EXPECT_NEAR(frobenius_norm(s), std::sqrt(9.0 + 16.0 / 9.0), kTol);
  EXPECT_NEAR(stable_rank(s), (9.0 + 16.0 / 9.0) / 9.0, kTol);
  EXPECT_NEAR(participation_ratio(s), std::pow(13.0 / 3.0, 2) / (9.0 + 16.0 / 9.0), kTol);
  // Roy & Vetterli: p = σ/Σσ = (9/13, 4/13).
  const double p1 = 9.0 / 13.0, p2 = 4.0 / 13.0;
  EXPECT_NEAR(shannon_effective_rank(s, ErankWeights::SingularValues), std::exp(-p1 * std::log(p1) - p2 * std::log(p2)),
              kTol);
}

TEST(Ranks, ZeroAndEmptySpectra) {
  const std::vector<double> zero{0.0, 0.0, 0.0}, empty;
  for (const auto& s : {zero, empty}) {
    EXPECT_EQ(stable_rank(s), 0.0);
    EXPECT_EQ(participation_ratio(s), 0.0);
    EXPECT_EQ(shannon_effective_rank(s, ErankWeights::Energy), 0.0);
    EXPECT_EQ(shannon_effective_rank(s, ErankWeights::SingularValues), 0.0);
    EXPECT_EQ(renyi2_effective_rank(s), 0.0);
    EXPECT_EQ(numerical_rank(s, 3, 3), 0);
  }
  EXPECT_TRUE(std::isnan(condition_number(zero, 3, 3)));
}

TEST(Ranks, NumericalRankUsesNumpyTolerance) {
  // tol = σ₁·max(m,n)·ε: with m = 10, n = 7, σ₁ = 1 → 1.19e-6 (float32 ε), 2.2e-15 (float64 ε).
  const std::vector<double> s{1.0, 1e-3, 1e-6, 1e-8};
  EXPECT_EQ(numerical_rank(s, 10, 7, kEpsF32), 2);
  EXPECT_EQ(numerical_rank(s, 10, 7, kEpsF64), 4);
  EXPECT_EQ(count_above(s, 1e-6), 2);  // strictly greater
}

TEST(Ranks, RecommendedRankFindsTheKnee) {
  auto rr = recommended_rank(std::vector<double>{10, 9, 8, 1, 0.9});
  EXPECT_EQ(rr.rank, 3);
  EXPECT_DOUBLE_EQ(rr.gap_ratio, 8.0);
  rr = recommended_rank(std::vector<double>{4, 2, 0});
  EXPECT_EQ(rr.rank, 2);
  EXPECT_TRUE(std::isinf(rr.gap_ratio));
  rr = recommended_rank(std::vector<double>{5});
  EXPECT_EQ(rr.rank, 1);
  EXPECT_TRUE(std::isinf(rr.gap_ratio));
  rr = recommended_rank(std::vector<double>{0, 0});
  EXPECT_EQ(rr.rank, 1);
  EXPECT_EQ(rr.gap_ratio, 1.0);
  rr = recommended_rank(std::vector<double>{});
  EXPECT_EQ(rr.rank, 0);
  EXPECT_TRUE(std::isnan(rr.gap_ratio));
  // Ties: the first maximum wins.
  rr = recommended_rank(std::vector<double>{8, 4, 2, 1});
  EXPECT_EQ(rr.rank, 1);
}

TEST(Ranks, ConditionNumberOverSignificantSpectrum) {
  const std::vector<double> before{4, 2, 1e-9}, after{8, 2, 1e-9};
  EXPECT_DOUBLE_EQ(condition_number(before, 3, 3), 2.0);  // 1e-9 is below 3·ε·4
  EXPECT_DOUBLE_EQ(condition_ratio(after, before, 3, 3), 2.0);
}

TEST(Ranks, LayerGeometryOnAHandWorkedSpectrum) {
  // σ = (4, 2, 1, 1), W (4, 6): p = (16, 4, 1, 1)/22.
  const std::vector<double> s{4, 2, 1, 1};
  double h = 0.0;
  for (double v : s) h -= v * v / 22.0 * std::log(v * v / 22.0);
  LayerGeometry g = layer_geometry(s, 4, 6);
  EXPECT_NEAR(g.erank, std::exp(h), kTol);
  ASSERT_GT(std::exp(h), 2.0);
  ASSERT_LT(std::exp(h), 3.0);
  EXPECT_EQ(g.full_rank, 4);
  EXPECT_EQ(g.k, 2);
  EXPECT_DOUBLE_EQ(g.sigma_max, 4.0);
  EXPECT_DOUBLE_EQ(g.sigma_k, 2.0);
  EXPECT_DOUBLE_EQ(g.spectral_gap, 2.0);
  EXPECT_EQ(g.tail_dims, 2);
  EXPECT_DOUBLE_EQ(g.decay_ratio, 2.0);
  EXPECT_TRUE(g.is_targetable);
  EXPECT_EQ(g.precision_rank, 4);
  EXPECT_EQ(g.recommended_rank, 1);  // ratios 2, 2, 1: first maximum
  EXPECT_DOUBLE_EQ(g.recommended_gap_ratio, 2.0);
}

TEST(Ranks, LayerGeometryEdgeCases) {
  // One singular value (a 1×N matrix): k clamps to 1, tail_dims 0, gap = σ_k.
  LayerGeometry g = layer_geometry(std::vector<double>{3.0}, 1, 8);
  EXPECT_EQ(g.k, 1);
  EXPECT_EQ(g.tail_dims, 0);
  EXPECT_FALSE(g.is_targetable);
  EXPECT_DOUBLE_EQ(g.spectral_gap, 3.0);
  // All zero: erank 0 → k = 1, σ_k falls back to tiny, tail = full_rank − 1.
  g = layer_geometry(std::vector<double>{0, 0, 0}, 3, 3);
  EXPECT_EQ(g.erank, 0.0);
  EXPECT_EQ(g.k, 1);
  EXPECT_EQ(g.sigma_k, kTinyF32);
  EXPECT_EQ(g.tail_dims, 2);
  // Empty: everything 0, tail_dims = full_rank.
  g = layer_geometry(std::vector<double>{}, 5, 0);
  EXPECT_EQ(g.tail_dims, 0);
  g = layer_geometry(std::vector<double>{}, 5, 7);
  EXPECT_EQ(g.tail_dims, 5);
  EXPECT_EQ(g.k, 0);
  // Rank-1 spectrum with zeros after: σ_k = σ₁ (k = 1), gap = σ_k.
  g = layer_geometry(std::vector<double>{2, 0, 0, 0}, 4, 4);
  EXPECT_EQ(g.k, 1);
  EXPECT_DOUBLE_EQ(g.sigma_k, 2.0);
  EXPECT_EQ(g.tail_dims, 3);
}

TEST(Ranks, CapacityMetricsThresholds) {
  // σ₁ = 2: f32 threshold 2·3.45e-4 = 6.9e-4 keeps 3 values, f16 threshold 0.0625 keeps 2.
  const std::vector<double> s{2, 1, 0.05, 1e-4};
  CapacityMetrics c = capacity_metrics(s, 4, 6);
  EXPECT_EQ(c.numerical_rank_f32, 3);
  EXPECT_EQ(c.numerical_rank_f16, 2);
  EXPECT_EQ(c.null_space_dim_f32, 1);
  EXPECT_DOUBLE_EQ(c.null_space_fraction, 0.25);
  const double sum = 2 + 1 + 0.05 + 1e-4, sq = 4 + 1 + 0.0025 + 1e-8;
  EXPECT_NEAR(c.effective_rank, sum * sum / sq, kTol);
  EXPECT_NEAR(c.capacity_utilization, sum * sum / sq / 4.0, kTol);
  EXPECT_EQ(c.recommended_rank, 3);  // 0.05 / 1e-4 = 500
}

TEST(Ranks, MarchenkoPasturMedian) {
  // β → 0 concentrates the law at 1; the median decreases with β (more spread to the left).
  EXPECT_NEAR(marchenko_pastur_median(1e-6), 1.0, 1e-2);
  double prev = 2.0;
  for (double beta : {0.01, 0.1, 0.3, 0.6, 1.0}) {
    const double mu = marchenko_pastur_median(beta);
    EXPECT_LT(mu, prev);
    EXPECT_GT(mu, (1 - std::sqrt(beta)) * (1 - std::sqrt(beta)));
    prev = mu;
  }
  EXPECT_THROW(marchenko_pastur_median(0.0), Error);
  EXPECT_THROW(marchenko_pastur_median(1.5), Error);
}

TEST(Ranks, MpSignalRankFindsPlantedSpikes) {
  // X (N, d) = noise N(0, 1) + 3 strong rank-one spikes; centred. Both q < 1 and q > 1.
  struct Case {
    int64_t n, d;
  };
  for (Case c : {Case{400, 100}, Case{80, 300}}) {
    SCOPED_TRACE(testing::Message() << "N=" << c.n << " d=" << c.d);
    Rng rng(99);
    std::vector<double> x(static_cast<size_t>(c.n * c.d));
    for (double& v : x) v = rng.normal();
    for (int spike = 0; spike < 3; ++spike) {
      std::vector<double> u(c.n), v(c.d);
      for (double& t : u) t = rng.normal();
      for (double& t : v) t = rng.normal() / std::sqrt(static_cast<double>(c.d));
      const double strength = 8.0 + 4.0 * spike;
      for (int64_t i = 0; i < c.n; ++i)
        for (int64_t j = 0; j < c.d; ++j) x[i * c.d + j] += strength * u[i] * v[j];
    }
    for (int64_t j = 0; j < c.d; ++j) {
      double mean = 0.0;
      for (int64_t i = 0; i < c.n; ++i) mean += x[i * c.d + j];
      mean /= static_cast<double>(c.n);
      for (int64_t i = 0; i < c.n; ++i) x[i * c.d + j] -= mean;
    }
    std::vector<double> s = singular_values(MatrixViewD(x.data(), c.n, c.d));
    MpSignalRank r = mp_signal_rank(s, c.n, c.d);
    EXPECT_EQ(r.signal_rank, 3);
    EXPECT_NEAR(r.noise_variance, 1.0, 0.15);
    EXPECT_GT(r.signal_variance_fraction, 0.0);
    EXPECT_LT(r.signal_variance_fraction, 1.0);
    EXPECT_NEAR(r.activation_erank, shannon_effective_rank(s, ErankWeights::Energy), kTol);
  }
}

}  // namespace
}  // namespace mc::geometry

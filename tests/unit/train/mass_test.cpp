// MASS controller (src/train/mass.h, spec/training.md §6): every branch with values worked out by hand
// from the spec's formulas, and the bounded-gain property η_step/η_ceiling ≤ 1 on random sequences.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/ranks.h"
#include "train/mass.h"

namespace mc::train {
namespace {

using geometry::kSqrtEpsF32;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string error_of(double sk, double smax) {
  try {
    MassController c(sk, smax, 1);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Mass, InsufficientGeometryNamesTheQuantity) {
  for (double bad : {0.0, -1.0, kNaN, kInf}) {
    const std::string e = error_of(bad, 2.0);
    EXPECT_NE(e.find("insufficient_adapter_geometry"), std::string::npos) << e;
    EXPECT_NE(e.find("sigma_k_min"), std::string::npos) << e;
    const std::string e2 = error_of(0.5, bad);
    EXPECT_NE(e2.find("insufficient_adapter_geometry"), std::string::npos) << e2;
    EXPECT_NE(e2.find("sigma_max"), std::string::npos) << e2;
  }
  EXPECT_THROW(MassController(0.5, 2.0, 0), Error);
}

TEST(Mass, CeilingWithSqrtNCorrection) {
  EXPECT_DOUBLE_EQ(MassController(0.5, 2.0, 1).eta_ceiling(), 0.25);  // σ_k_min/σ_max, N_b = 1: no correction
  EXPECT_DOUBLE_EQ(MassController(0.5, 2.0, 4).eta_ceiling(), 0.125);  // 0.25/√4
  EXPECT_DOUBLE_EQ(MassController(0.5, 2.0, 4).eta_ceiling_raw(), 0.25);
}

TEST(Mass, SpsBinds) {
  MassController c(0.5, 2.0, 1);  // ceiling 0.25
  const MassStep s = c.step(/*loss=*/0.5, /*D=*/2.0);
  EXPECT_DOUBLE_EQ(s.eta_sps, 0.5 / 4.0);  // max(0, f − 0)/D²
  EXPECT_DOUBLE_EQ(s.eta_weyl, 0.25);      // σ_k_min/D
  EXPECT_DOUBLE_EQ(s.eta_step, 0.125);
  EXPECT_EQ(s.binding, "sps");
  EXPECT_DOUBLE_EQ(s.displacement, 0.25);  // η·D
  EXPECT_DOUBLE_EQ(s.gain_ratio, 0.5);     // η/η_ceiling
  EXPECT_TRUE(std::isnan(s.eta_margin));   // no budget before the first epoch boundary
  EXPECT_TRUE(std::isnan(s.displacement_to_budget));
}

TEST(Mass, WeylBinds) {
  MassController c(0.5, 0.5, 1);  // ceiling 1
  const MassStep s = c.step(10.0, 2.0);
  EXPECT_DOUBLE_EQ(s.eta_sps, 2.5);
  EXPECT_DOUBLE_EQ(s.eta_weyl, 0.25);
  EXPECT_DOUBLE_EQ(s.eta_step, 0.25);
  EXPECT_EQ(s.binding, "weyl");
  EXPECT_DOUBLE_EQ(s.displacement, 0.5);  // = σ_k_min: the Weyl term caps the displacement at σ_k_min
  EXPECT_DOUBLE_EQ(s.gain_ratio, 0.25);
}

TEST(Mass, CeilingBinds) {
  MassController c(0.5, 2.0, 1);
  const MassStep s = c.step(8.0, 1.0);  // sps 8, weyl 0.5
  EXPECT_DOUBLE_EQ(s.eta_step, 0.25);
  EXPECT_EQ(s.binding, "ceiling");
  EXPECT_DOUBLE_EQ(s.gain_ratio, 1.0);
}

TEST(Mass, ZeroLossGivesZeroStep) {
  MassController c(0.5, 2.0, 1);
  const MassStep s = c.step(0.0, 3.0);  // f − f* = 0
  EXPECT_EQ(s.eta_sps, 0.0);
  EXPECT_EQ(s.eta_step, 0.0);
  EXPECT_EQ(s.binding, "sps");
  EXPECT_EQ(c.step(-1.0, 3.0).eta_sps, 0.0);  // max(0, ·)
}

TEST(Mass, ZeroGradientUsesTheCeiling) {
  MassController c(0.5, 2.0, 1);
  const MassStep s = c.step(3.0, 0.0);
  EXPECT_DOUBLE_EQ(s.eta_sps, 0.25);
  EXPECT_DOUBLE_EQ(s.eta_weyl, 0.25);
  EXPECT_DOUBLE_EQ(s.eta_step, 0.25);
  EXPECT_EQ(s.binding, "ceiling");
  EXPECT_EQ(s.displacement, 0.0);
}

TEST(Mass, RejectsNonFiniteInput) {
  MassController c(0.5, 2.0, 1);
  EXPECT_THROW(c.step(kNaN, 1.0), Error);
  EXPECT_THROW(c.step(1.0, kInf), Error);
  EXPECT_THROW(c.step(1.0, -1.0), Error);
  const double bad_val[] = {1.0, kNaN};
  EXPECT_THROW(c.epoch_boundary(bad_val, {}), Error);
}

TEST(Mass, MarginAfterTheFirstEpochBoundary) {
  MassController c(0.5, 2.0, 1);  // ceiling 0.25
  c.step(1.0, 1.0);
  const double ratios[] = {0.2, 0.6};
  const MassEpoch e = c.epoch_boundary({}, ratios);
  EXPECT_DOUBLE_EQ(e.max_saturation_ratio, 0.6);
  EXPECT_DOUBLE_EQ(e.remaining_budget, 0.5 * (1.0 - 0.6));  // σ_k_min(1 − max ratio) = 0.2
  ASSERT_TRUE(c.remaining_budget().has_value());
  const MassStep s = c.step(10.0, 4.0);  // sps 10/16, weyl 0.125, margin 0.2/4 = 0.05
  EXPECT_DOUBLE_EQ(s.eta_margin, 0.05);
  EXPECT_DOUBLE_EQ(s.eta_step, 0.05);
  EXPECT_EQ(s.binding, "margin");
  EXPECT_DOUBLE_EQ(s.displacement, 0.2);
  EXPECT_DOUBLE_EQ(s.displacement_to_budget, 1.0);
  // D = 0 with a positive budget: margin = ∞, the ceiling binds.
  const MassStep z = c.step(1.0, 0.0);
  EXPECT_EQ(z.eta_margin, kInf);
  EXPECT_EQ(z.binding, "ceiling");
  EXPECT_EQ(z.displacement_to_budget, 0.0);
}

TEST(Mass, ExhaustedBudgetStopsMotion) {
  MassController c(0.5, 2.0, 1);
  const double ratios[] = {0.3, 1.2};
  EXPECT_EQ(c.epoch_boundary({}, ratios).remaining_budget, 0.0);  // max(0, 0.5·(1 − 1.2))
  const MassStep s = c.step(5.0, 2.0);
  EXPECT_EQ(s.eta_margin, 0.0);
  EXPECT_EQ(s.eta_step, 0.0);
  EXPECT_EQ(s.binding, "margin");
  EXPECT_EQ(s.displacement_to_budget, 0.0);
}

TEST(Mass, EmptyRatiosLeaveTheBudgetUnset) {
  MassController c(0.5, 2.0, 1);
  const MassEpoch e = c.epoch_boundary({}, {});
  EXPECT_FALSE(c.remaining_budget().has_value());
  EXPECT_TRUE(std::isnan(e.remaining_budget));
  EXPECT_TRUE(std::isnan(c.step(1.0, 1.0).eta_margin));
}

TEST(Mass, ValidationBackoff) {
  MassController c(0.5, 2.0, 1);  // ceiling 0.25
  const double rose[] = {2.0, 2.5};
  MassEpoch e = c.epoch_boundary(rose, {});
  EXPECT_TRUE(e.backed_off);
  EXPECT_DOUBLE_EQ(e.backoff_factor, 0.8);  // val[-2]/val[-1]
  EXPECT_DOUBLE_EQ(c.eta_ceiling(), 0.2);
  const double fell[] = {2.0, 2.5, 1.5};
  e = c.epoch_boundary(fell, {});
  EXPECT_FALSE(e.backed_off);
  EXPECT_DOUBLE_EQ(c.eta_ceiling(), 0.2);
  const double blew_up[] = {1.0, 1e6};
  e = c.epoch_boundary(blew_up, {});
  EXPECT_DOUBLE_EQ(e.backoff_factor, kSqrtEpsF32);  // floored at √ε (1e-6 < √ε)
  EXPECT_DOUBLE_EQ(c.eta_ceiling(), 0.2 * kSqrtEpsF32);
}

TEST(Mass, NoBackoffWithoutAPositivePreviousLoss) {
  MassController c(0.5, 2.0, 1);
  const double zero_prev[] = {0.0, 1.0};
  EXPECT_FALSE(c.epoch_boundary(zero_prev, {}).backed_off);
  const double one[] = {3.0};
  EXPECT_FALSE(c.epoch_boundary(one, {}).backed_off);
  EXPECT_DOUBLE_EQ(c.eta_ceiling(), 0.25);
}

TEST(Mass, EpochMaximaResetAtTheBoundary) {
  MassController c(0.5, 2.0, 1);
  c.step(0.5, 2.0);  // gain 0.5
  c.step(8.0, 1.0);  // gain 1
  MassEpoch e = c.epoch_boundary({}, {});
  EXPECT_EQ(e.steps, 2);
  EXPECT_DOUBLE_EQ(e.max_gain_ratio, 1.0);
  c.step(0.5, 2.0);
  e = c.epoch_boundary({}, {});
  EXPECT_EQ(e.steps, 1);
  EXPECT_DOUBLE_EQ(e.max_gain_ratio, 0.5);
  EXPECT_DOUBLE_EQ(c.max_gain_ratio(), 1.0);  // run maximum kept
  EXPECT_EQ(c.steps(), 3);
}

TEST(Mass, BoundedGainProperty) {
  // Random losses, gradient norms (including 0 and extremes), validation histories and saturation
  // ratios: η_step is the minimum of the active candidates, η_step/η_ceiling ≤ 1, η_step·D ≤ σ_k_min,
  // and the ceiling never increases.
  Rng rng(2024);
  for (int run = 0; run < 20; ++run) {
    const double sk = std::exp(6.0 * rng.uniform() - 5.0), smax = sk * std::exp(6.0 * rng.uniform());
    MassController c(sk, smax, 1 + static_cast<int64_t>(rng.uniform_int(50)));
    std::vector<double> val;
    double last_ceiling = c.eta_ceiling();
    for (int epoch = 0; epoch < 10; ++epoch) {
      for (int t = 0; t < 30; ++t) {
        const double loss = rng.uniform() < 0.05 ? 0.0 : std::exp(8.0 * rng.uniform() - 4.0);
        const double d = rng.uniform() < 0.05 ? 0.0 : std::exp(16.0 * rng.uniform() - 8.0);
        const MassStep s = c.step(loss, d);
        EXPECT_LE(s.gain_ratio, 1.0);
        EXPECT_GE(s.eta_step, 0.0);
        double m = std::min({s.eta_ceiling, s.eta_sps, s.eta_weyl});
        if (!std::isnan(s.eta_margin)) m = std::min(m, s.eta_margin);
        EXPECT_EQ(s.eta_step, m);
        EXPECT_LE(s.displacement, sk * (1.0 + 1e-15));
        if (!std::isnan(s.displacement_to_budget)) {
          EXPECT_LE(s.displacement_to_budget, 1.0 + 1e-15);
        }
      }
      val.push_back(std::exp(2.0 * rng.uniform() - 1.0));
      std::vector<double> ratios(1 + rng.uniform_int(5));
      for (double& r : ratios) r = 1.1 * rng.uniform();
      const MassEpoch e = c.epoch_boundary(val, ratios);
      EXPECT_LE(e.max_gain_ratio, 1.0);
      EXPECT_LE(c.eta_ceiling(), last_ceiling);
      last_ceiling = c.eta_ceiling();
    }
    EXPECT_LE(c.max_gain_ratio(), 1.0);
  }
}

}  // namespace
}  // namespace mc::train

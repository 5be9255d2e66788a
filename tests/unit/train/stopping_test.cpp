// Stopping rules (src/train/stopping.h, spec/training.md §7): each rule and certificate criterion with
// values worked out by hand from the spec's formulas, and the §7.2 order of evaluate_stop_rules.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "geometry/ranks.h"
#include "train/stopping.h"

namespace mc::train {
namespace {

using geometry::kEpsF32;
using geometry::kSqrtEpsF32;
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Stopping, WindowedSeTest) {
  const double h[] = {1.0, 2.0, 3.0, 5.0};
  const WindowTest t = windowed_se_test(h, 2);
  EXPECT_DOUBLE_EQ(t.mean_recent, 4.0);
  EXPECT_DOUBLE_EQ(t.mean_earlier, 1.5);
  EXPECT_DOUBLE_EQ(t.delta, 2.5);
  EXPECT_DOUBLE_EQ(t.se_diff, std::sqrt((1.0 + 0.25) / 2.0));  // population variances 1 and 0.25, w = 2
  EXPECT_DOUBLE_EQ(t.threshold, t.se_diff);
  const double flat[] = {7.0, 7.0, 7.0, 7.0, 7.0};
  const WindowTest f = windowed_se_test(flat, 2);  // uses the last 4 values
  EXPECT_EQ(f.se_diff, 0.0);
  EXPECT_EQ(f.threshold, kSqrtEpsF32);  // floored at √ε
}

TEST(Stopping, CiHalfWidthAndMedian) {
  const double x[] = {1.0, 2.0, 3.0, 4.0};
  EXPECT_DOUBLE_EQ(ci_half_width(x), 1.96 * std::sqrt((5.0 / 3.0) / 4.0));  // 1.96·sd(ddof 1)/√n
  const double one[] = {3.0};
  EXPECT_EQ(ci_half_width(one), 0.0);
  EXPECT_DOUBLE_EQ(median(x), 2.5);
  const double odd[] = {5.0, 1.0, 3.0};
  EXPECT_DOUBLE_EQ(median(odd), 3.0);
  EXPECT_TRUE(std::isnan(median({})));
}

TEST(Stopping, ValConvergence) {
  const double three[] = {3.0, 2.0, 2.5};
  EXPECT_FALSE(val_convergence(three).evaluated);  // needs 2w = 4 epochs

  const double stable[] = {3.0, 2.0, 2.5, 2.7};  // Δ = 2.6 − 2.5 = 0.1, SE = √((0.01 + 0.25)/2) ≈ 0.36
  ValConvergence v = val_convergence(stable);
  EXPECT_TRUE(v.evaluated);
  EXPECT_NEAR(v.test.delta, 0.1, 1e-15);
  EXPECT_DOUBLE_EQ(v.test.se_diff, std::sqrt((0.01 + 0.25) / 2.0));
  EXPECT_EQ(v.trend, ValTrend::Stable);

  const double rising[] = {1.0, 1.0, 2.0, 2.0};  // Δ = 1 > max(0, √ε)
  EXPECT_EQ(val_convergence(rising).trend, ValTrend::Increasing);
  const double falling[] = {2.0, 2.0, 1.0, 1.0};  // Δ = −1: still improving
  EXPECT_EQ(val_convergence(falling).trend, ValTrend::None);
  const double flat[] = {1.0, 1.0, 1.0, 1.0};  // Δ = 0 < √ε
  EXPECT_EQ(val_convergence(flat).trend, ValTrend::Stable);
}

TEST(Stopping, SaturationRule) {
  const double thr = 1.0 - kSqrtEpsF32;
  const double some[] = {0.2, 0.9997, 0.5};  // 0.9997 ≥ 1 − √ε ≈ 0.999655
  SaturationCheck s = saturation_rule(some);
  EXPECT_TRUE(s.saturated);
  EXPECT_DOUBLE_EQ(s.threshold, thr);
  EXPECT_DOUBLE_EQ(s.max_ratio, 0.9997);
  EXPECT_EQ(s.argmax, 1);
  EXPECT_DOUBLE_EQ(s.median_ratio, 0.5);
  EXPECT_EQ(s.n_saturated, 1);
  const double below[] = {0.2, 0.9996};
  EXPECT_FALSE(saturation_rule(below).saturated);
  const double exact[] = {thr};
  EXPECT_TRUE(saturation_rule(exact).saturated);  // ≥
  EXPECT_FALSE(saturation_rule({}).saturated);
}

TEST(Stopping, Stationarity) {
  const double big[] = {5.0};
  EXPECT_FALSE(stationarity(big).met);  // < 4 values: ‖g‖ < √ε
  const double tiny[] = {3.0, 1e-4};
  Stationarity s = stationarity(tiny);
  EXPECT_TRUE(s.met);
  EXPECT_FALSE(s.windowed);
  EXPECT_EQ(s.grad_norm, 1e-4);

  const double level[] = {1.0, 1.1, 1.0, 1.05, 1.02};  // w = 2: recent {1.05, 1.02}, earlier {1.1, 1.0}
  s = stationarity(level);
  EXPECT_TRUE(s.windowed);
  EXPECT_EQ(s.test.window, 2);
  EXPECT_NEAR(s.test.delta, 1.035 - 1.05, 1e-14);
  EXPECT_NEAR(s.test.se_diff, std::sqrt((0.000225 + 0.0025) / 2.0), 1e-14);
  EXPECT_TRUE(s.met);
  const double dropping[] = {10.0, 10.0, 1.0, 1.0};
  EXPECT_FALSE(stationarity(dropping).met);
}

TEST(Stopping, ImprovementBound) {
  EXPECT_EQ(improvement_delta_max(-0.1, 1.0), 0.0);  // a ≤ 0
  EXPECT_EQ(improvement_delta_max(0.0, 1.0), 0.0);
  EXPECT_EQ(improvement_delta_max(0.1, 0.0), kInf);  // b ≤ 0
  EXPECT_DOUBLE_EQ(improvement_delta_max(0.2, 0.5), 0.04);  // a²/(2b)
  EXPECT_TRUE(improvement_bound(0.2, 0.5, 0.05).met);
  EXPECT_FALSE(improvement_bound(0.2, 0.5, 0.03).met);
  EXPECT_TRUE(improvement_bound(0.2, 0.5, 0.0).met);  // CI ≤ 0: vacuous (training.md §7.1)
  EXPECT_FALSE(improvement_bound(0.1, -1.0, 0.05).met);  // Δmax = ∞
}

TEST(Stopping, WorstGroup) {
  const ImprovementBound overall = improvement_bound(0.2, 0.5, 0.05);
  const double a[] = {0.2, 0.1, 1.0}, b[] = {0.5, 0.5, 0.5};
  const double ci_ok[] = {0.05, 0.02, 0.0};  // Δmax = 0.04, 0.01, (1.0 ignored: CI = 0)
  WorstGroup w = worst_group(a, b, ci_ok, overall);
  EXPECT_TRUE(w.met);
  EXPECT_EQ(w.n_considered, 2);
  EXPECT_FALSE(w.used_fallback);
  const double ci_bad[] = {0.05, 0.005, 0.0};  // batch 1: 0.01 ≥ 0.005
  w = worst_group(a, b, ci_bad, overall);
  EXPECT_FALSE(w.met);
  EXPECT_EQ(w.worst_index, 1);
  EXPECT_DOUBLE_EQ(w.delta_max, 0.01);
  EXPECT_DOUBLE_EQ(w.ci, 0.005);
  w = worst_group({}, {}, {}, improvement_bound(0.2, 0.5, 0.03));
  EXPECT_TRUE(w.used_fallback);
  EXPECT_FALSE(w.met);
}

TEST(Stopping, NoDrift) {
  const double ent[] = {2.0, 2.2, 1.8}, rep[] = {0.1, 0.1, 0.1};
  const Band be = baseline_band(ent);
  EXPECT_DOUBLE_EQ(be.mean, 2.0);
  EXPECT_NEAR(be.half_width, std::sqrt(0.04 / 3.0), 1e-15);  // √(var/n), var with ddof 1
  EXPECT_EQ(baseline_band(rep).half_width, kSqrtEpsF32);     // var 0: floored at √ε
  EXPECT_EQ(no_drift(1.8, 0.1, ent, rep).drift, "entropy_collapse");
  EXPECT_EQ(no_drift(2.2, 0.1, ent, rep).drift, "entropy_expansion");
  EXPECT_EQ(no_drift(2.05, 0.2, ent, rep).drift, "repetition");
  const NoDrift ok = no_drift(2.05, 0.1, ent, rep);
  EXPECT_TRUE(ok.met);
  EXPECT_TRUE(ok.has_baseline);
  const NoDrift none = no_drift(0.0, 1.0, {}, {});  // no baseline ⇒ no drift
  EXPECT_TRUE(none.met);
  EXPECT_FALSE(none.has_baseline);
}

Certificate all_met_certificate() {
  const double h[] = {1e-5};
  const double e[] = {2.0};
  return make_certificate(stationarity(h), improvement_bound(0.2, 0.5, 0.05),
                          worst_group({}, {}, {}, improvement_bound(0.2, 0.5, 0.05)), no_drift(2.0, 0.0, e, e));
}

TEST(Stopping, ShouldCertificateStop) {
  const Certificate c = all_met_certificate();
  ASSERT_TRUE(c.all_met);
  const double flat[] = {2.0, 1.9, 1.95};
  EXPECT_TRUE(should_certificate_stop(c, flat));  // no new best this epoch
  const double improving[] = {2.0, 1.9, 1.8};
  EXPECT_FALSE(should_certificate_stop(c, improving));
  Certificate unmet = c;
  unmet.all_met = false;
  EXPECT_FALSE(should_certificate_stop(unmet, flat));
  const double one[] = {2.0};
  EXPECT_FALSE(should_certificate_stop(c, one));
}

TEST(Stopping, HvpStep) {
  const double h1 = std::cbrt(3.0 * kEpsF32);  // (3ε)^{1/3}
  EXPECT_NEAR(h1, 0.007098127315750547, 1e-15);  // Python: (3*2**-23)**(1/3)
  EXPECT_DOUBLE_EQ(hvp_step(0.1), h1);  // max(‖θ‖, 1) = 1
  EXPECT_DOUBLE_EQ(hvp_step(5.0), 5.0 * h1);
  // f(x) = 1.5·x² along d = 1: f'(x ± h) = 3(x ± h) ⇒ b = 3 exactly.
  const double x = 0.7, h = hvp_step(x);
  EXPECT_NEAR(central_difference_curvature(3.0 * (x + h), 3.0 * (x - h), h), 3.0, 1e-12);
}

TEST(Stopping, LossStable) {
  std::vector<double> flat(7, 2.0);
  EXPECT_FALSE(loss_stable(flat, 2).evaluated);  // w = 2·N_b = 4 steps, needs 8
  flat.push_back(2.0);
  LossStable l = loss_stable(flat, 2);
  EXPECT_TRUE(l.evaluated);
  EXPECT_EQ(l.test.window, 4);
  EXPECT_TRUE(l.stable);
  std::vector<double> falling;
  for (int i = 0; i < 8; ++i) falling.push_back(3.0 - 0.25 * i);  // Δ = −1, SE = √((0.078125·2)/4)
  l = loss_stable(falling, 2);
  EXPECT_DOUBLE_EQ(l.test.delta, -1.0);
  EXPECT_FALSE(l.stable);
}

TEST(Stopping, SafetyCap) {
  EXPECT_EQ(static_cast<int64_t>(std::ceil(1.0 / std::sqrt(kEpsF32))), 2897);  // ceil(1/√ε)
  EXPECT_EQ(safety_cap_max_iters(480, 7), 69 * 2897);  // ceil(480/7) = 69
  EXPECT_EQ(safety_cap_max_iters(480, 480), 2897);
  EXPECT_THROW(safety_cap_max_iters(0, 1), Error);
  EXPECT_THROW(safety_cap_max_iters(10, 0), Error);
}

TEST(Stopping, RulesInOrder) {
  const double rising[] = {1.0, 1.0, 2.0, 2.0};
  const double saturated[] = {0.3, 1.0};
  const double fresh[] = {0.3, 0.4};
  const double flat_val[] = {2.0, 1.9, 1.95};

  StopInputs in;
  in.epoch = 4;
  in.val_losses = rising;
  in.saturation_ratios = saturated;
  in.certificate = all_met_certificate();
  in.iters_done = 100;
  in.max_iters = 100;
  EXPECT_EQ(evaluate_stop_rules(in).rule, "val_increasing");  // (a) before everything

  in.val_losses = flat_val;  // 3 epochs: (a) not evaluated, certificate condition holds
  StopDecision d = evaluate_stop_rules(in);
  EXPECT_EQ(d.rule, "adapter_saturation_exhausted");  // (b) before (d)
  EXPECT_EQ(d.reason().rfind("adapter_saturation_exhausted (Weyl crossing, median_ratio=0.65", 0), 0u) << d.reason();

  in.saturation_ratios = fresh;
  in.degeneration_max = 0.5;
  in.degeneration_baseline_max = 0.1;
  d = evaluate_stop_rules(in);
  EXPECT_EQ(d.rule, "certificate");  // (d) before (f)
  EXPECT_EQ(d.reason().rfind("certificate (‖g‖=1e-05, Δmax=0.04<CI=0.05, epoch=4)", 0), 0u) << d.reason();

  in.epoch = 1;  // the certificate starts at epoch 2
  EXPECT_EQ(evaluate_stop_rules(in).rule, "degeneration_exceeded");
  in.degeneration_max = 0.1 + 0.5 * kSqrtEpsF32;  // within √ε of the baseline
  d = evaluate_stop_rules(in);
  EXPECT_EQ(d.rule, "safety_cap");
  EXPECT_EQ(d.reason(), "safety_cap (100 iters)");

  in.iters_done = 99;
  d = evaluate_stop_rules(in);
  EXPECT_FALSE(d.stop);
  EXPECT_EQ(d.reason(), "");

  // Without a validation set: loss_stable (g) before the safety cap; never the certificate.
  StopInputs nv;
  nv.epoch = 5;
  nv.certificate = all_met_certificate();
  const std::vector<double> losses(8, 1.5);
  nv.step_losses = losses;
  nv.n_batches = 2;
  nv.iters_done = nv.max_iters = 8;
  EXPECT_EQ(evaluate_stop_rules(nv).rule, "loss_stable");
  // With a validation set, loss_stable is not consulted.
  const double improving[] = {3.0, 2.0};
  nv.val_losses = improving;
  EXPECT_EQ(evaluate_stop_rules(nv).rule, "safety_cap");
}

}  // namespace
}  // namespace mc::train

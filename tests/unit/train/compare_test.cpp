// compare.h: the paired percentile bootstrap (Efron & Tibshirani 1993, ch. 13) against numpy on stored
// resample indices (tests/data/compare/bootstrap.json, tools/gen_compare_goldens.py), exact checks of
// the percentile rule on hand-enumerable resamples, statistical properties of the seeded interval
// (contains the mean, width ~ 1/√n, ~95% coverage), the winner rule, and result-file comparisons.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"
#include "train/compare.h"
#include "unit/train/run_fixture.h"

namespace mc::train {
namespace {

std::vector<double> normal_sample(Rng& rng, size_t n, double mu, double sigma) {
  std::vector<double> v(n);
  for (double& x : v) x = mu + sigma * rng.normal();
  return v;
}

TEST(Bootstrap, QuantileLinearIsNumpysDefault) {
  const std::vector<double> x = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(quantile_linear(x, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile_linear(x, 0.25), 1.75);  // numpy.quantile([1,2,3,4], 0.25)
  EXPECT_DOUBLE_EQ(quantile_linear(x, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile_linear(x, 0.9), 3.7);
  EXPECT_DOUBLE_EQ(quantile_linear(x, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(quantile_linear(std::vector<double>{5}, 0.3), 5.0);
}

TEST(Bootstrap, PercentileRuleOnEnumeratedResamples) {
  // diffs {1, 3}: the four resamples (0,0) (0,1) (1,0) (1,1) have means 1, 2, 2, 3. At level 0.5 the
  // interval is the 25% and 75% quantiles of [1, 2, 2, 3]: h = 3·0.25 = 0.75 → 1.75, h = 2.25 → 2.25.
  const std::vector<double> d = {1, 3};
  const std::vector<int64_t> idx = {0, 0, 0, 1, 1, 0, 1, 1};
  BootstrapCi ci = bootstrap_ci_from_indices(d, idx, 4, 0.5);
  EXPECT_DOUBLE_EQ(ci.mean, 2.0);
  EXPECT_DOUBLE_EQ(ci.lo, 1.75);
  EXPECT_DOUBLE_EQ(ci.hi, 2.25);
  EXPECT_EQ(ci.resamples, 4);
  EXPECT_EQ(ci.n, 2);
  // At 95%: h = 3·0.025 = 0.075 → 1.075 and h = 2.925 → 2.925.
  ci = bootstrap_ci_from_indices(d, idx, 4, 0.95);
  EXPECT_DOUBLE_EQ(ci.lo, 1.075);
  EXPECT_DOUBLE_EQ(ci.hi, 2.925);
}

TEST(Bootstrap, SeededTwoPointCase) {
  // diffs {0, 1}: resample means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so with B = 10000 the
  // 2.5% quantile is 0 and the 97.5% quantile is 1 (each end holds ~2500 resamples).
  const std::vector<double> d = {0, 1};
  const BootstrapCi ci = paired_bootstrap_ci(d, kBootstrapResamples, kBootstrapLevel, kBootstrapSeed);
  EXPECT_DOUBLE_EQ(ci.lo, 0.0);
  EXPECT_DOUBLE_EQ(ci.hi, 1.0);
  EXPECT_DOUBLE_EQ(ci.mean, 0.5);
  EXPECT_FALSE(ci.excludes_zero());
  // A constant vector has a degenerate interval.
  const std::vector<double> c(5, -0.25);
  const BootstrapCi cc = paired_bootstrap_ci(c, 100, 0.95, 1);
  EXPECT_DOUBLE_EQ(cc.lo, -0.25);
  EXPECT_DOUBLE_EQ(cc.hi, -0.25);
  EXPECT_TRUE(cc.excludes_zero());
}

TEST(Bootstrap, MatchesNumpyOnStoredResamples) {
  const Json g = json_load(test::data_path("compare/bootstrap.json"));
  ASSERT_GE(g["cases"].size(), 5u);
  for (const Json& c : g["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::vector<double> d = c["diffs"].get<std::vector<double>>();
    const std::vector<int64_t> idx = c["indices"].get<std::vector<int64_t>>();
    const BootstrapCi ci = bootstrap_ci_from_indices(d, idx, c["resamples"].get<int64_t>(), c["level"].get<double>());
    const double tol = 1e-12 * (1 + std::fabs(c["hi"].get<double>() - c["lo"].get<double>()));
    EXPECT_NEAR(ci.mean, c["mean"].get<double>(), 1e-14);
    EXPECT_NEAR(ci.lo, c["lo"].get<double>(), tol);
    EXPECT_NEAR(ci.hi, c["hi"].get<double>(), tol);
  }
}

TEST(Bootstrap, DeterministicAndContainsTheMean) {
  Rng rng(7);
  const std::vector<double> d = normal_sample(rng, 60, 0.1, 0.5);
  const BootstrapCi a = paired_bootstrap_ci(d, 2000, 0.95, 123);
  const BootstrapCi b = paired_bootstrap_ci(d, 2000, 0.95, 123);
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
  EXPECT_EQ(a.seed, 123u);
  EXPECT_LT(a.lo, a.mean);
  EXPECT_GT(a.hi, a.mean);
  const BootstrapCi c = paired_bootstrap_ci(d, 2000, 0.95, 124);
  EXPECT_NE(a.lo, c.lo);                       // another stream
  EXPECT_NEAR(a.lo, c.lo, 0.25 * (a.hi - a.lo));  // ... of the same interval
  // The percentile interval of a mean is close to mean ± 1.96·s/√n for normal data.
  double var = 0;
  for (double x : d) var += (x - a.mean) * (x - a.mean);
  const double se = std::sqrt(var / static_cast<double>(d.size() - 1) / static_cast<double>(d.size()));
  EXPECT_NEAR(a.hi - a.lo, 2 * 1.96 * se, 0.15 * 2 * 1.96 * se);
}

TEST(Bootstrap, WidthShrinksAsOneOverSqrtN) {
  Rng rng(11);
  const std::vector<double> small = normal_sample(rng, 100, 0.3, 1.0);
  const std::vector<double> large = normal_sample(rng, 400, 0.3, 1.0);
  const BootstrapCi a = paired_bootstrap_ci(small, 4000, 0.95, 5);
  const BootstrapCi b = paired_bootstrap_ci(large, 4000, 0.95, 5);
  const double ratio = (a.hi - a.lo) / (b.hi - b.lo);
  EXPECT_NEAR(ratio, 2.0, 0.35) << "widths " << a.hi - a.lo << " vs " << b.hi - b.lo;
}

TEST(Bootstrap, CoverageIsNearTheLevel) {
  // 400 synthetic N(0.2, 1) samples of n = 40: the share of 95% intervals that contain 0.2 should be
  // near 0.95 (the percentile interval undercovers slightly at small n; binomial SE here is 0.011).
  Rng rng(2024);
  constexpr int kTrials = 400;
  int covered = 0;
  for (int t = 0; t < kTrials; ++t) {
    const std::vector<double> d = normal_sample(rng, 40, 0.2, 1.0);
    const BootstrapCi ci = paired_bootstrap_ci(d, 1000, 0.95, 1000 + t);
    covered += ci.lo <= 0.2 && 0.2 <= ci.hi;
  }
  const double coverage = static_cast<double>(covered) / kTrials;
  EXPECT_GT(coverage, 0.90);
  EXPECT_LT(coverage, 0.985);
}

TEST(Bootstrap, RejectsBadInput) {
  const std::vector<double> none, nan_in = {1.0, std::nan("")}, ok = {1.0, 2.0};
  EXPECT_THROW(paired_bootstrap_ci(none, 10, 0.95, 1), Error);
  EXPECT_THROW(paired_bootstrap_ci(nan_in, 10, 0.95, 1), Error);
  EXPECT_THROW(paired_bootstrap_ci(ok, 0, 0.95, 1), Error);
  EXPECT_THROW(paired_bootstrap_ci(ok, 10, 1.0, 1), Error);
  EXPECT_THROW(paired_bootstrap_ci(ok, 10, 0.0, 1), Error);
  const std::vector<int64_t> bad_idx = {0, 2};
  EXPECT_THROW(bootstrap_ci_from_indices(ok, bad_idx, 1, 0.95), Error);
  EXPECT_THROW(bootstrap_ci_from_indices(ok, bad_idx, 2, 0.95), Error);  // wrong count
}

TEST(ComparePaired, WinnerOnlyWhenTheIntervalExcludesZero) {
  Rng rng(3);
  std::vector<double> a(80), b(80), c(80), z(80);
  double zmean = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = 2.0 + 0.3 * rng.normal();
    b[i] = a[i] - 0.1 + 0.05 * rng.normal();  // b clearly lower
    z[i] = rng.normal();
    zmean += z[i] / 80;
  }
  for (size_t i = 0; i < a.size(); ++i) c[i] = a[i] + 0.2 * (z[i] - zmean);  // noise with mean exactly 0
  PairedComparison p = compare_paired(a, b);
  EXPECT_EQ(p.winner, "b");
  EXPECT_LT(p.ci.hi, 0.0);
  EXPECT_EQ(p.ci.resamples, kBootstrapResamples);
  EXPECT_EQ(p.n, 80);
  EXPECT_EQ(p.n_improved + p.n_degraded + p.n_unchanged, 80);
  EXPECT_GT(p.n_improved, p.n_degraded);
  EXPECT_NE(paired_verdict(p, "A", "B").find("B (b) has the lower loss"), std::string::npos);
  PairedComparison q = compare_paired(b, a);  // the same, mirrored
  EXPECT_EQ(q.winner, "a");
  EXPECT_NEAR(q.ci.mean, -p.ci.mean, 1e-12);
  EXPECT_EQ(q.n_improved, p.n_degraded);
  PairedComparison r = compare_paired(a, c);
  EXPECT_TRUE(r.ci.lo <= 0.0 && r.ci.hi >= 0.0) << r.ci.lo << " " << r.ci.hi;
  EXPECT_EQ(r.winner, "");
  EXPECT_NE(paired_verdict(r, "A", "B").find("no significant difference"), std::string::npos);
  const std::vector<double> same = a;
  PairedComparison s = compare_paired(a, same);
  EXPECT_EQ(s.n_unchanged, 80);
  EXPECT_EQ(s.winner, "");
  EXPECT_THROW(compare_paired(a, std::vector<double>(79, 1.0)), Error);
  std::vector<double> bad = a;
  bad[5] = INFINITY;
  EXPECT_THROW(compare_paired(a, bad), Error);
  const OrderedJson j = paired_json(p);
  EXPECT_EQ(j["n"], 80);
  EXPECT_EQ(j["excludes_zero"], true);
  EXPECT_EQ(j["resamples"], kBootstrapResamples);
}

TEST(CompareResults, DeltasOnSharedNumericFields) {
  const OrderedJson a = OrderedJson::parse(
      R"({"schema": "x", "zeta": 1, "steps": 10, "final_loss": 2.0, "eval_loss": null, "post_loss": 1.5,
          "only_a": 3, "flag": true, "name": "s", "config": {"lr": 1}})");
  const OrderedJson b = OrderedJson::parse(
      R"({"final_loss": 1.5, "steps": 12, "zeta": 4, "eval_loss": 2.0, "post_loss": 1.25, "flag": false, "only_b": 1})");
  const std::vector<MetricDelta> d = result_deltas(a, b);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].metric, "post_loss");  // known metrics first, in their order
  EXPECT_DOUBLE_EQ(d[0].delta, -0.25);
  EXPECT_EQ(d[1].metric, "final_loss");
  EXPECT_EQ(d[2].metric, "steps");
  EXPECT_DOUBLE_EQ(d[2].delta, 2.0);
  EXPECT_EQ(d[3].metric, "zeta");        // then the other shared numbers in a's order
  EXPECT_DOUBLE_EQ(d[3].a, 1.0);
  EXPECT_DOUBLE_EQ(d[3].b, 4.0);
}

TEST(CompareResults, NoWinnerWithoutPerExampleLosses) {
  test::TempDir t;
  test::make_complete_research_run(t / "a");
  test::make_complete_derived_run(t / "b");
  const RunResult a = read_run_result(t / "a"), b = read_run_result(t / "b");
  const ResultComparison c = compare_results(a, b);
  EXPECT_EQ(c.winner, "");
  EXPECT_EQ(c.verdict, "no winner: per-example losses needed; use -m/-d mode");
  EXPECT_FALSE(c.paired);
  EXPECT_FALSE(c.gate_a);
  ASSERT_TRUE(c.gate_b);
  EXPECT_FALSE(*c.gate_b);
  bool saw_eval = false;
  for (const MetricDelta& m : c.deltas)
    if (m.metric == "eval_loss") {
      saw_eval = true;
      EXPECT_NEAR(m.delta, 2.1 - 2.45, 1e-12);
    }
  EXPECT_TRUE(saw_eval);
}

TEST(CompareResults, PairedWhenBothCarryPerExampleLosses) {
  test::TempDir t;
  auto write = [&](const std::string& name, const std::string& losses, const std::string& extra = "") {
    test::write_bytes(t / name, "{\"schema\": \"mc.train.run.v1\", \"steps\": 3, \"final_loss\": 1.0, "
                                "\"eval_per_example_loss\": [" + losses + "]" + extra + "}");
    return read_run_result(t / name);
  };
  std::string la, lb;
  for (int i = 0; i < 30; ++i) {
    la += (i ? "," : "") + std::to_string(2.0 + 0.01 * (i % 7));
    lb += (i ? "," : "") + std::to_string(1.8 + 0.01 * (i % 5));
  }
  const RunResult a = write("a.json", la), b = write("b.json", lb);
  ResultComparison c = compare_results(a, b);
  ASSERT_TRUE(c.paired);
  EXPECT_EQ(c.winner, "b");
  EXPECT_NE(c.verdict.find("b.json (b) has the lower loss"), std::string::npos) << c.verdict;
  // Different lengths, or different eval data: no pairing.
  c = compare_results(a, write("c.json", "1, 2"));
  EXPECT_FALSE(c.paired);
  EXPECT_EQ(c.winner, "");
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_NE(c.notes[0].find("differ in length"), std::string::npos);
  const RunResult e1 = write("e1.json", la, ", \"eval_data_hash\": \"x\", \"model_hash\": \"m1\"");
  const RunResult e2 = write("e2.json", lb, ", \"eval_data_hash\": \"y\", \"model_hash\": \"m2\"");
  c = compare_results(e1, e2);
  EXPECT_FALSE(c.paired);
  ASSERT_EQ(c.notes.size(), 2u);
  EXPECT_NE(c.notes[0].find("model_hash differs"), std::string::npos);
  EXPECT_NE(c.notes[1].find("different data"), std::string::npos);
}

}  // namespace
}  // namespace mc::train

// Unit tests of the plan's data side (src/train/plan_data.h): sequence length, the seeded shuffle, the
// pilot_variance split's rule, fallback and errors, and the explicit split. Numeric goldens against an
// independent numpy implementation live in tests/golden/plan_golden_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "train/plan_data.h"

namespace mc::train {
namespace {

TEST(PlanSeqLength, RoundsUpToSimdWidthIncludingEos) {
  EXPECT_EQ(derived_sequence_length(0), 32);
  EXPECT_EQ(derived_sequence_length(30), 32);
  EXPECT_EQ(derived_sequence_length(31), 32);
  EXPECT_EQ(derived_sequence_length(32), 64);
  EXPECT_EQ(derived_sequence_length(255), 256);
  const std::vector<int64_t> train = {10, 40}, eval = {100}, ret = {7};
  const SeqLengthChoice c = resolve_sequence_length(train, eval, ret);
  EXPECT_EQ(c.max_tokens, 100);
  EXPECT_EQ(c.seq_length, 128);
  EXPECT_EQ(c.source, kSeqLengthSourceDerived);
}

TEST(PlanSeqLength, OverrideAndErrors) {
  const std::vector<int64_t> train = {10};
  const SeqLengthChoice c = resolve_sequence_length(train, {}, {}, 77);
  EXPECT_EQ(c.seq_length, 77);
  EXPECT_EQ(c.source, kSeqLengthSourceUser);
  EXPECT_THROW(resolve_sequence_length({}, {}, {}), Error);
  EXPECT_THROW(resolve_sequence_length(train, {}, {}, 0), Error);
  const std::vector<int64_t> bad = {-1};
  EXPECT_THROW(resolve_sequence_length(bad, {}, {}), Error);
}

TEST(PlanShuffle, IsADeterministicPermutation) {
  for (size_t n : {0u, 1u, 2u, 13u, 100u}) {
    const std::vector<size_t> p = seeded_permutation(n, 42);
    std::vector<size_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    std::vector<size_t> iota(n);
    std::iota(iota.begin(), iota.end(), 0);
    EXPECT_EQ(sorted, iota);
    EXPECT_EQ(p, seeded_permutation(n, 42));
  }
  EXPECT_NE(seeded_permutation(100, 1), seeded_permutation(100, 2));
}

TEST(PlanPilotSplit, StopsAtTwoForConstantLosses) {
  const std::vector<double> losses(20, 1.25);
  const ValidationSplit s = pilot_variance_split(losses, 7);
  EXPECT_EQ(s.n_eval, 2);
  EXPECT_EQ(s.n_train, 18);
  EXPECT_EQ(s.pilot_steps, 2);
  EXPECT_TRUE(s.fallback.empty());
  EXPECT_EQ(s.method, kValidationPilotMethod);
  EXPECT_EQ(s.split_method, kSplitPilotVariance);
  EXPECT_DOUBLE_EQ(s.pilot_mean_loss, 1.25);
  EXPECT_DOUBLE_EQ(s.pilot_variance, 0.0);
  EXPECT_DOUBLE_EQ(s.target_se, geometry::kSqrtEpsF32 * 1.25);
  // eval + train partition the samples, eval first in shuffled order.
  std::vector<size_t> all = s.eval_indices;
  all.insert(all.end(), s.train_indices.begin(), s.train_indices.end());
  EXPECT_EQ(all, seeded_permutation(20, 7));
}

TEST(PlanPilotSplit, FallsBackToSqrtNAndStopsEarly) {
  // 512 samples with a 30% coefficient of variation: the √ε target asks for ~10⁶ samples.
  std::vector<double> losses(512);
  for (size_t i = 0; i < losses.size(); ++i) losses[i] = 2.0 + 0.6 * std::sin(0.7 * static_cast<double>(i));
  size_t calls = 0;
  const ValidationSplit s = pilot_variance_split(losses.size(), 3, [&](size_t i) {
    ++calls;
    return losses[i];
  });
  EXPECT_EQ(s.fallback, kSplitFallbackSqrtN);
  EXPECT_EQ(s.n_eval, 23);  // training.md §14 #3: 512 samples → 23
  EXPECT_EQ(s.n_train, 489);
  EXPECT_GE(s.requested_n_eval, 512.0);
  EXPECT_LT(calls, 512u);  // stopped as soon as the request exceeded the dataset
  EXPECT_EQ(static_cast<int64_t>(calls), s.pilot_steps);
}

TEST(PlanPilotSplit, RelativePrecisionIsANamedKnob) {
  std::vector<double> losses(400);
  for (size_t i = 0; i < losses.size(); ++i) losses[i] = 2.0 + 0.2 * std::sin(1.3 * static_cast<double>(i));
  const ValidationSplit strict = pilot_variance_split(losses, 11);
  EXPECT_EQ(strict.fallback, kSplitFallbackSqrtN);
  const ValidationSplit loose = pilot_variance_split(losses, 11, 0.05);  // 5% of the mean
  EXPECT_TRUE(loose.fallback.empty());
  EXPECT_GE(loose.n_eval, 2);
  EXPECT_LT(loose.n_eval, 400);
  EXPECT_DOUBLE_EQ(loose.relative_precision, 0.05);
  // The rule's invariant at the stop: n_eval = max(2, n_val), n_val >= var/target².
  EXPECT_GE(static_cast<double>(loose.n_eval), loose.pilot_variance / (loose.target_se * loose.target_se) - 1e-9);
}

TEST(PlanPilotSplit, NearZeroMeanUsesEpsTarget) {
  const std::vector<double> losses = {1e-6, 2e-6, 1.5e-6, 1e-6, 1.2e-6, 1.1e-6};
  const ValidationSplit s = pilot_variance_split(losses, 5);
  EXPECT_DOUBLE_EQ(s.target_se, geometry::kEpsF32);
}

TEST(PlanPilotSplit, Errors) {
  const std::vector<double> two = {1.0, 2.0};
  EXPECT_THROW(pilot_variance_split(two, 1), Error);
  const std::vector<double> nan(4, std::numeric_limits<double>::quiet_NaN());
  EXPECT_THROW(pilot_variance_split(nan, 1), Error);
  const std::vector<double> ok = {1.0, 1.0, 1.0};
  EXPECT_THROW(pilot_variance_split(ok, 1, 0.0), Error);
  // Three samples is the minimum: 2 eval + 1 train.
  const std::vector<double> three = {1.0, 3.0, 2.0};
  const ValidationSplit s = pilot_variance_split(three, 1);
  EXPECT_EQ(s.n_eval, 2);
  EXPECT_EQ(s.n_train, 1);
}

TEST(PlanExplicitSplit, CountsAndErrors) {
  const ValidationSplit s = explicit_eval_split(100, 12);
  EXPECT_EQ(s.method, kValidationExplicitMethod);
  EXPECT_EQ(s.split_method, kSplitExplicit);
  EXPECT_EQ(s.n_train, 100);
  EXPECT_EQ(s.n_eval, 12);
  EXPECT_TRUE(s.eval_indices.empty());
  EXPECT_THROW(explicit_eval_split(0, 3), Error);
  EXPECT_THROW(explicit_eval_split(3, 0), Error);
}

}  // namespace
}  // namespace mc::train

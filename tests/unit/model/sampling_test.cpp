// The sampler's properties that need no oracle: greedy ties, the repetition penalty under greedy decoding,
// reproducibility per seed, empirical frequencies against the softmax (plain, with temperature and with
// top-k), filtered tokens never drawn, and option validation. The processed scores themselves are checked
// against transformers in tests/golden/sampling_golden_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "model/sampling.h"

namespace mc {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Empirical counts must lie within this many binomial standard deviations of N·p. With a handful of
// categories per test, 5σ makes a false failure (p ≈ 6e-7 per category) practically impossible while a
// wrong distribution (e.g. temperature ignored, off-by-one in the draw) misses by hundreds of σ.
constexpr double kSigmas = 5.0;
constexpr int kDraws = 40000;

std::vector<int> draw_counts(const std::vector<float>& logits, const SamplingOptions& o, int n) {
  Sampler s(o);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; i++) counts[static_cast<size_t>(s.sample(logits, {}))]++;
  return counts;
}

void expect_frequencies(const std::vector<int>& counts, const std::vector<double>& p, int n) {
  ASSERT_EQ(counts.size(), p.size());
  for (size_t i = 0; i < p.size(); i++) {
    const double mean = n * p[i], sd = std::sqrt(n * p[i] * (1 - p[i]));
    if (p[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
    } else {
      EXPECT_NEAR(counts[i], mean, kSigmas * sd) << "token " << i << " p = " << p[i];
    }
  }
}

std::vector<float> log_probs(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(x > 0 ? static_cast<float>(std::log(x)) : kNegInf);
  return l;
}

TEST(Sampling, GreedyIsArgmaxWithTiesToTheLowestId) {
  Sampler s(SamplingOptions{});
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 2.5f};
  EXPECT_EQ(s.sample(logits, {}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{kNegInf, -5.0f, -5.0f}, {}), 1);
}

TEST(Sampling, RepetitionPenaltyAppliesToGreedyDecoding) {
  SamplingOptions o;
  o.repetition_penalty = 1.5;
  Sampler s(o);
  // 3 / 1.5 = 2 < 2.5: the seen token 1 loses to token 4.
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 0.0f, 2.5f};
  const std::vector<int32_t> history = {1, 1, 2};
  EXPECT_EQ(s.sample(logits, history), 4);
  // Negative scores are multiplied: -2 · 1.5 = -3; positive divided; each id once however often seen.
  std::vector<float> sc = logits;
  sampling_process(sc, history, o);
  EXPECT_EQ(sc[1], 2.0f);
  EXPECT_EQ(sc[2], -3.0f);
  EXPECT_EQ(sc[0], 1.0f);
}

TEST(Sampling, GreedyIgnoresTheWarpers) {
  SamplingOptions o;
  o.top_k = 1;
  o.top_p = 0.1;
  o.min_p = 0.9;
  std::vector<float> sc = {1.0f, 2.0f, 3.0f};
  sampling_process(sc, {}, o);
  EXPECT_EQ(sc, (std::vector<float>{1.0f, 2.0f, 3.0f}));
}

TEST(Sampling, SameSeedSameTokensDifferentSeedDiffers) {
  std::vector<float> flat(1000, 0.0f);
  SamplingOptions o;
  o.temperature = 1.0;
  o.seed = 42;
  auto run = [&](uint64_t seed) {
    o.seed = seed;
    Sampler s(o);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; i++) out.push_back(s.sample(flat, out));
    return out;
  };
  const std::vector<int32_t> a = run(42), b = run(42), c = run(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // A flat distribution over 1000 ids: 64 draws hit many different ids.
  std::vector<int32_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_GT(std::unique(sorted.begin(), sorted.end()) - sorted.begin(), 50);
}

TEST(Sampling, FrequenciesMatchTheSoftmax) {
  const std::vector<double> p = {0.05, 0.15, 0.3, 0.5};
  SamplingOptions o;
  o.temperature = 1.0;
  o.seed = 1;
  expect_frequencies(draw_counts(log_probs(p), o, kDraws), p, kDraws);
}

TEST(Sampling, TemperatureSharpensTheDistribution) {
  // softmax(log p / 0.5) ∝ p².
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  std::vector<double> q;
  double z = 0;
  for (double x : p) z += x * x;
  for (double x : p) q.push_back(x * x / z);
  SamplingOptions o;
  o.temperature = 0.5;
  o.seed = 2;
  expect_frequencies(draw_counts(log_probs(p), o, kDraws), q, kDraws);
}

TEST(Sampling, TopKRenormalisesOverTheKeptTokens) {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_k = 2;
  o.seed = 3;
  expect_frequencies(draw_counts(log_probs(p), o, kDraws), {0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0}, kDraws);
}

TEST(Sampling, TopPAndMinPDropTheTail) {
  const std::vector<double> p = {0.05, 0.1, 0.25, 0.6};
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_p = 0.8;  // ascending cumulative: 0.05, 0.15 (<= 0.2: dropped), 0.40, 1.0
  o.seed = 4;
  expect_frequencies(draw_counts(log_probs(p), o, kDraws), {0.0, 0.0, 0.25 / 0.85, 0.6 / 0.85}, kDraws);
  o.top_p = 1.0;
  o.min_p = 0.3;  // threshold 0.18: keeps 0.25 and 0.6
  expect_frequencies(draw_counts(log_probs(p), o, kDraws), {0.0, 0.0, 0.25 / 0.85, 0.6 / 0.85}, kDraws);
}

TEST(Sampling, FilteredTokensAreNeverDrawn) {
  std::vector<float> logits(50, 0.0f);
  for (size_t i = 0; i < logits.size(); i += 3) logits[i] = kNegInf;
  SamplingOptions o;
  o.temperature = 2.0;
  o.seed = 5;
  Sampler s(o);
  for (int i = 0; i < 2000; i++) {
    const int32_t t = s.sample(logits, {});
    ASSERT_NE(t % 3, 0) << "drew a -inf token";
  }
}

TEST(Sampling, TopKKeepsEveryTieOfTheKth) {
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_k = 2;
  std::vector<float> sc = {1.0f, 5.0f, 3.0f, 3.0f, 0.5f};
  sampling_process(sc, {}, o);
  EXPECT_EQ(sc[1], 5.0f);
  EXPECT_EQ(sc[2], 3.0f);
  EXPECT_EQ(sc[3], 3.0f);
  EXPECT_EQ(sc[0], kNegInf);
  EXPECT_EQ(sc[4], kNegInf);
}

TEST(Sampling, TopPZeroKeepsOneTokenAndTiesResolveStably) {
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_p = 0.0;
  // Equal maxima: sorted ascending with ties by id, the last (highest id) is the one kept.
  std::vector<float> sc = {5.0f, 1.0f, 5.0f, 2.0f};
  sampling_process(sc, {}, o);
  EXPECT_EQ(sc, (std::vector<float>{kNegInf, kNegInf, 5.0f, kNegInf}));
}

TEST(Sampling, DrawWalksTheCumulativeDistributionInIdOrder) {
  std::vector<double> scratch;
  const std::vector<float> sc = {kNegInf, 0.0f, 0.0f, kNegInf, 0.0f, 0.0f};  // four ids of p = 1/4
  EXPECT_EQ(sample_from_scores(sc, 0.0, scratch), 1);
  EXPECT_EQ(sample_from_scores(sc, 0.24, scratch), 1);
  EXPECT_EQ(sample_from_scores(sc, 0.26, scratch), 2);
  EXPECT_EQ(sample_from_scores(sc, 0.6, scratch), 4);
  EXPECT_EQ(sample_from_scores(sc, 0.99999999, scratch), 5);
  EXPECT_THROW(sample_from_scores(std::vector<float>{kNegInf, kNegInf}, 0.5, scratch), Error);
}

TEST(Sampling, InvalidOptionsAreRejected) {
  auto bad = [](auto set) {
    SamplingOptions o;
    set(o);
    EXPECT_THROW(sampling_validate(o), Error);
    EXPECT_THROW(Sampler{o}, Error);
  };
  bad([](SamplingOptions& o) { o.temperature = -0.1; });
  bad([](SamplingOptions& o) { o.temperature = std::numeric_limits<double>::infinity(); });
  bad([](SamplingOptions& o) { o.top_k = -1; });
  bad([](SamplingOptions& o) { o.top_p = 1.5; });
  bad([](SamplingOptions& o) { o.min_p = -0.1; });
  bad([](SamplingOptions& o) { o.repetition_penalty = 0.0; });
  bad([](SamplingOptions& o) { o.repetition_penalty = std::nan(""); });
  EXPECT_NO_THROW(sampling_validate(SamplingOptions{}));
}

}  // namespace
}  // namespace mc

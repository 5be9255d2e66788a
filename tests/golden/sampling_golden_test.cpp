// Our logits processors against transformers 5.23's (tests/data/sampling/processors.json, written by
// tools/gen_sampling_goldens.py): repetition penalty, temperature, top-k, top-p and min-p in generate()'s
// order on random float32 logits with ties and -inf entries. The kept set must be identical and the kept
// scores equal within kProcessedRelTol; greedy cases also check the chosen token.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/json.h"
#include "model/sampling.h"
#include "test_util.h"

namespace mc {
namespace {

// Temperature and penalty are the same float32 operations as PyTorch's (bit-identical in practice); the
// tolerance only allows for a different but correctly rounded division. Relative to max(1, |score|).
constexpr double kProcessedRelTol = 1e-6;

std::vector<float> floats(const Json& a) {
  std::vector<float> v;
  for (const Json& x : a)
    v.push_back(x.is_null() ? -std::numeric_limits<float>::infinity() : static_cast<float>(x.get<double>()));
  return v;
}

TEST(SamplingGolden, ProcessedScoresMatchTransformers) {
  const Json doc = json_load(test::data_path("sampling/processors.json"));
  ASSERT_TRUE(doc.contains("cases"));
  int n_cases = 0;
  for (const Json& c : doc["cases"]) {
    const std::string name = c["name"].get<std::string>();
    const std::vector<float> logits = floats(c["logits"]), expected = floats(c["expected"]);
    ASSERT_EQ(logits.size(), expected.size()) << name;
    std::vector<int32_t> history;
    for (const Json& h : c["history"]) history.push_back(h.get<int32_t>());
    const Json& o = c["options"];
    SamplingOptions opt;
    opt.temperature = o["temperature"].get<double>();
    opt.top_k = o["top_k"].get<int64_t>();
    opt.top_p = o["top_p"].get<double>();
    opt.min_p = o["min_p"].get<double>();
    opt.repetition_penalty = o["repetition_penalty"].get<double>();

    std::vector<float> got = logits;
    sampling_process(got, history, opt);
    int kept = 0, mismatched = 0;
    for (size_t i = 0; i < got.size(); i++) {
      const bool want_kept = std::isfinite(expected[i]), is_kept = std::isfinite(got[i]);
      EXPECT_EQ(is_kept, want_kept) << name << ": token " << i << " got " << got[i] << ", transformers "
                                    << expected[i];
      if (!want_kept || !is_kept) {
        if (!is_kept) {
          EXPECT_LT(got[i], 0.0f) << name << ": token " << i << " is +inf or NaN";
        }
        continue;
      }
      kept++;
      const double tol = kProcessedRelTol * std::max(1.0, std::fabs(static_cast<double>(expected[i])));
      if (std::fabs(static_cast<double>(got[i]) - static_cast<double>(expected[i])) > tol) mismatched++;
      EXPECT_NEAR(got[i], expected[i], tol) << name << ": token " << i;
    }
    EXPECT_EQ(mismatched, 0) << name;
    EXPECT_GT(kept, 0) << name;

    if (opt.greedy()) {
      const int32_t want = static_cast<int32_t>(std::max_element(expected.begin(), expected.end()) - expected.begin());
      Sampler s(opt);
      EXPECT_EQ(s.sample(logits, history), want) << name;
    } else {
      // A draw only ever picks a token transformers kept.
      SamplingOptions seeded = opt;
      for (uint64_t seed = 0; seed < 20; seed++) {
        seeded.seed = seed;
        Sampler s(seeded);
        const int32_t t = s.sample(logits, history);
        EXPECT_TRUE(std::isfinite(expected[static_cast<size_t>(t)])) << name << ": drew filtered token " << t;
      }
    }
    n_cases++;
  }
  EXPECT_GE(n_cases, 20);
}

}  // namespace
}  // namespace mc

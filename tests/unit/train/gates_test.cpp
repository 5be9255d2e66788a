// Post-training gates (src/train/gates.h, spec/training.md §8): the spectral-bound tolerance, the CKA
// lower bound (1 − ε)/(1 + ε) as a property, degeneration n-gram order and repetition rates worked out
// by hand, and pipeline_gate_v1 passing and failing on each check.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/ranks.h"
#include "train/gates.h"

namespace mc::train {
namespace {

using geometry::kEpsF32;
using geometry::kSqrtEpsF32;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(Gates, SpectralBoundTolerance) {
  SpectralBoundCheck c = spectral_bound_check(1.0, 100, 100);
  EXPECT_DOUBLE_EQ(c.tolerance, 1.0 + 10.0 * kEpsF32);  // 1 + √max(n,m)·ε
  EXPECT_TRUE(c.ok);
  EXPECT_FALSE(spectral_bound_check(1.0 + 11.0 * kEpsF32, 100, 100).ok);
  EXPECT_DOUBLE_EQ(spectral_bound_check(0.5, 4, 9).tolerance, 1.0 + 3.0 * kEpsF32);
  EXPECT_FALSE(spectral_bound_check(kNaN, 4, 9).ok);

  const SpectralBoundCheck mods[] = {spectral_bound_check(0.4, 8, 8), spectral_bound_check(0.9, 8, 8),
                                     spectral_bound_check(0.7, 8, 8)};
  SpectralBounds s = spectral_bounds(mods);
  EXPECT_TRUE(s.ok);
  EXPECT_DOUBLE_EQ(s.max_ratio, 0.9);
  EXPECT_EQ(s.worst, 1);
  const SpectralBoundCheck bad[] = {spectral_bound_check(0.4, 8, 8), spectral_bound_check(1.01, 8, 8)};
  s = spectral_bounds(bad);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.n_failed, 1);
  EXPECT_FALSE(spectral_bounds({}).ok);
}

/// ε = ‖K̃_a − K̃_b‖_F/‖K̃_b‖_F computed here from scratch: centre columns, Gram, Frobenius norms.
double gram_eps_by_hand(const std::vector<double>& xa, const std::vector<double>& xb, int64_t n, int64_t d) {
  auto centred_gram = [&](const std::vector<double>& x) {
    std::vector<double> c(x), k(static_cast<size_t>(n * n), 0.0);
    for (int64_t j = 0; j < d; ++j) {
      double mu = 0.0;
      for (int64_t i = 0; i < n; ++i) mu += x[i * d + j];
      mu /= static_cast<double>(n);
      for (int64_t i = 0; i < n; ++i) c[i * d + j] -= mu;
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t l = 0; l < n; ++l)
        for (int64_t j = 0; j < d; ++j) k[i * n + l] += c[i * d + j] * c[l * d + j];
    return k;
  };
  const std::vector<double> ka = centred_gram(xa), kb = centred_gram(xb);
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ka.size(); ++i) {
    num += (ka[i] - kb[i]) * (ka[i] - kb[i]);
    den += kb[i] * kb[i];
  }
  return std::sqrt(num / den);
}

TEST(Gates, CkaLowerBoundHolds) {
  Rng rng(5);
  const int64_t n = 24, d = 10;
  for (double noise : {0.0, 1e-3, 0.05, 0.3, 1.0, 3.0}) {
    std::vector<double> xb(static_cast<size_t>(n * d)), xa(xb.size());
    for (size_t i = 0; i < xb.size(); ++i) {
      xb[i] = rng.normal();
      xa[i] = 1.2 * xb[i] + noise * rng.normal() + 0.5;  // scaled, shifted, perturbed
    }
    const CkaLayerBound b = cka_layer_bound(geometry::MatrixViewD(xb.data(), n, d),
                                            geometry::MatrixViewD(xa.data(), n, d), 3);
    EXPECT_EQ(b.layer, 3);
    EXPECT_NEAR(b.gram_epsilon, gram_eps_by_hand(xa, xb, n, d), 1e-12);
    EXPECT_DOUBLE_EQ(b.bound, (1.0 - b.gram_epsilon) / (1.0 + b.gram_epsilon));
    EXPECT_GE(b.margin(), -1e-12) << "noise " << noise;  // CKA ≥ (1 − ε)/(1 + ε) always
  }
  std::vector<float> same(static_cast<size_t>(n * d));
  for (float& v : same) v = static_cast<float>(rng.normal());
  const CkaLayerBound id = cka_layer_bound(geometry::MatrixViewF(same.data(), n, d),
                                           geometry::MatrixViewF(same.data(), n, d), 0);
  EXPECT_NEAR(id.cka, 1.0, 1e-12);
  EXPECT_EQ(id.gram_epsilon, 0.0);
  EXPECT_EQ(id.bound, 1.0);
  EXPECT_THROW(cka_layer_bound(geometry::MatrixViewF(same.data(), n, d),
                               geometry::MatrixViewF(same.data(), n - 1, d), 0),
               Error);
}

TEST(Gates, CkaBoundBundle) {
  // margins: 0.985 − 0.99/1.01 ≈ 0.0048 (layer 0), 0.97 − 0.98/1.02 ≈ 0.0092 (layer 1)
  CkaLayerBound l0{0, 0.985, 0.01, 0.99 / 1.01}, l1{1, 0.97, 0.02, 0.98 / 1.02};
  std::vector<CkaLayerBound> layers = {l0, l1};
  CkaBoundBundle b = cka_bound_bundle(layers);
  EXPECT_TRUE(b.resolved);
  EXPECT_TRUE(b.ok);
  EXPECT_DOUBLE_EQ(b.min_cka, 0.97);
  EXPECT_EQ(b.min_cka_layer, 1);
  EXPECT_DOUBLE_EQ(b.mean_cka, (0.985 + 0.97) / 2.0);
  EXPECT_DOUBLE_EQ(b.min_margin, 0.985 - 0.99 / 1.01);
  EXPECT_EQ(b.min_margin_layer, 0);

  layers.push_back({2, 0.9, 0.0, 0.95});  // margin −0.05 < −√ε
  b = cka_bound_bundle(layers);
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.min_margin_layer, 2);
  layers.back() = {2, 0.95, 0.0, 0.95 + 0.5 * kSqrtEpsF32};  // margin −√ε/2: within tolerance
  EXPECT_TRUE(cka_bound_bundle(layers).ok);
  layers.back() = {2, kNaN, kNaN, kNaN};  // constant representation
  b = cka_bound_bundle(layers);
  EXPECT_FALSE(b.resolved);
  EXPECT_FALSE(b.ok);
  EXPECT_FALSE(cka_bound_bundle({}).resolved);
}

TEST(Gates, DegenerationOrder) {
  // n = ceil(2·ln 400 / ln r_eff)
  EXPECT_EQ(degeneration_ngram_order(500.0), 2);   // 1.93
  EXPECT_EQ(degeneration_ngram_order(10.0), 6);    // 5.20
  EXPECT_EQ(degeneration_ngram_order(1.5), 30);    // 29.55
  EXPECT_EQ(degeneration_ngram_order(1e9), 1);     // 0.58
  EXPECT_FALSE(degeneration_ngram_order(1.0).has_value());  // disabled
  EXPECT_FALSE(degeneration_ngram_order(kNaN).has_value());
}

TEST(Gates, SplitWordsLikePython) {
  auto words = [](std::string_view s) {
    std::vector<std::string> out;
    for (std::string_view w : split_words(s)) out.emplace_back(w);
    return out;
  };
  EXPECT_EQ(words("  a\tb\n c  "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(words("a\u00a0b\u2003c\u3000d\x1f" "e"), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(words("caf\u00e9 \u00e0"), (std::vector<std::string>{"caf\u00e9", "\u00e0"}));  // é, à are not spaces
  EXPECT_TRUE(words("").empty());
  EXPECT_TRUE(words(" \n\t").empty());
}

TEST(Gates, RepetitionRates) {
  // bigrams: (the cat)(cat the)(the cat)(cat the)(the cat): 2 unique of 5
  EXPECT_DOUBLE_EQ(word_repetition_rate("the cat the cat the cat", 2), 1.0 - 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(word_repetition_rate("the cat the cat the cat", 1), 1.0 - 2.0 / 6.0);
  EXPECT_EQ(word_repetition_rate("one two three", 2), 0.0);
  EXPECT_EQ(word_repetition_rate("one two", 3), 0.0);  // fewer words than n
  const int32_t ids[] = {1, 2, 3, 1, 2, 3, 1, 2};     // 4-grams 1231 2312 3123 1231 2312: 3 unique of 5
  EXPECT_DOUBLE_EQ(token_repetition_rate(ids, 4), 1.0 - 3.0 / 5.0);

  const std::vector<std::string> texts = {"a b a b a b", "x y z w", ""};
  const Degeneration d = degeneration(texts, 2);  // rates 1 − 2/5, 0, 0
  EXPECT_EQ(d.order, 2);
  EXPECT_EQ(d.n_texts, 3);
  EXPECT_DOUBLE_EQ(d.max_rate, 0.6);
  EXPECT_DOUBLE_EQ(d.mean_rate, 0.2);
}

struct GateFixture {
  std::vector<SpectralBoundCheck> spectral = {spectral_bound_check(0.5, 16, 32), spectral_bound_check(0.8, 16, 32)};
  std::vector<double> ratios = {0.5, 0.8};
  PipelineGateInputs inputs() const {
    PipelineGateInputs in;
    in.spectral = spectral;
    const CkaLayerBound layers[] = {{0, 0.99, 0.005, 0.995 / 1.005}};
    in.cka = cka_bound_bundle(layers);
    in.stop_reason = "val_stable (delta=0.001, threshold=0.01, w=2 epochs)";
    in.saturation_ratios = ratios;
    in.max_effective_gain_ratio = 1.0;
    return in;
  }
};

const GateCheck& check_named(const PipelineGateResult& r, const std::string& name) {
  for (const GateCheck& c : r.checks)
    if (c.name == name) return c;
  ADD_FAILURE() << "no check " << name;
  return r.checks.front();
}

TEST(Gates, PipelineGatePasses) {
  GateFixture f;
  const PipelineGateResult r = pipeline_gate_v1(f.inputs());
  EXPECT_EQ(r.gate_operator, "pipeline_gate_v1");
  EXPECT_TRUE(r.passed);
  EXPECT_TRUE(r.failure_modes.empty());
  const std::vector<std::string> names = {"spectral_bounds", "cka_bound_bundle", "safety_cap_stop_reason",
                                          "adapter_saturation", "max_effective_gain_ratio"};
  ASSERT_EQ(r.checks.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(r.checks[i].name, names[i]);
    EXPECT_EQ(r.checks[i].status, "passed") << names[i];
  }
  EXPECT_DOUBLE_EQ(check_named(r, "spectral_bounds").value, 0.8);
  EXPECT_DOUBLE_EQ(check_named(r, "adapter_saturation").value, 0.65);
  EXPECT_TRUE(check_named(r, "spectral_bounds").required);
  EXPECT_TRUE(check_named(r, "cka_bound_bundle").required);
}

TEST(Gates, PipelineGateFailsEachCheck) {
  GateFixture f;
  auto failures = [](const PipelineGateInputs& in) { return pipeline_gate_v1(in).failure_modes; };
  using V = std::vector<std::string>;

  GateFixture g;
  g.spectral.push_back(spectral_bound_check(1.001, 16, 32));
  EXPECT_EQ(failures(g.inputs()), V{"spectral_bounds"});

  PipelineGateInputs in = f.inputs();
  const CkaLayerBound below[] = {{0, 0.9, 0.0, 0.95}};
  in.cka = cka_bound_bundle(below);
  EXPECT_EQ(failures(in), V{"cka_bound_bundle"});

  in = f.inputs();
  in.cka.reset();  // a required check that was not measured fails in strict mode
  PipelineGateResult r = pipeline_gate_v1(in);
  EXPECT_EQ(r.failure_modes, V{"cka_bound_bundle"});
  EXPECT_EQ(check_named(r, "cka_bound_bundle").status, "unresolved");

  in = f.inputs();
  in.spectral = {};
  EXPECT_EQ(failures(in), V{"spectral_bounds"});

  in = f.inputs();
  in.stop_reason = "safety_cap (2897 iters)";
  EXPECT_EQ(failures(in), V{"safety_cap_stop_reason"});

  in = f.inputs();
  const std::vector<double> sat = {0.9, 1.0, 1.1};  // median 1 ≥ 1
  in.saturation_ratios = sat;
  EXPECT_EQ(failures(in), V{"adapter_saturation"});

  in = f.inputs();
  in.max_effective_gain_ratio = 1.0 + 2.0 * kSqrtEpsF32;
  EXPECT_EQ(failures(in), V{"max_effective_gain_ratio"});
  in.max_effective_gain_ratio = 1.0 + 0.5 * kSqrtEpsF32;  // within 1 + √ε
  EXPECT_TRUE(pipeline_gate_v1(in).passed);

  // Optional checks without data are unresolved but do not fail the gate.
  in = f.inputs();
  in.saturation_ratios = {};
  in.max_effective_gain_ratio = kNaN;
  r = pipeline_gate_v1(in);
  EXPECT_TRUE(r.passed);
  EXPECT_EQ(check_named(r, "adapter_saturation").status, "unresolved");
  EXPECT_EQ(check_named(r, "max_effective_gain_ratio").status, "unresolved");

  // Several failures are all listed, in check order.
  in = f.inputs();
  in.stop_reason = "safety_cap (10 iters)";
  in.max_effective_gain_ratio = 2.0;
  EXPECT_EQ(failures(in), (V{"safety_cap_stop_reason", "max_effective_gain_ratio"}));
}

}  // namespace
}  // namespace mc::train

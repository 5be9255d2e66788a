// Unit tests of the plan derivations (src/train/plan_derive.h) on hand-made spectra: rank rules incl.
// zero-tail modules, attention coupling, both ceilings, bounds, the MASS ceiling and its errors,
// B_crit edge cases, epoch/cap arithmetic, the RMT layer signal and the default output path.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "geometry/spectrum.h"
#include "train/plan.h"
#include "train/plan_derive.h"

namespace mc::train {
namespace {

constexpr double kSqrtEps = geometry::kSqrtEpsF32;

ModuleGeometry make(const std::string& module, int64_t layer, ProjRole role, std::vector<double> s, int64_t m,
                    int64_t n) {
  ModuleGeometry g;
  g.module = module;
  g.name = module + ".weight";
  g.layer = layer;
  g.role = role;
  g.geo = geometry::layer_geometry(s, m, n);
  return g;
}

/// A flat-ish spectrum of `full` values: erank close to full, so tail_dims is small but > 0.
std::vector<double> decaying(int64_t full, double top) {
  std::vector<double> s;
  for (int64_t i = 0; i < full; ++i) s.push_back(top / (1.0 + 0.3 * static_cast<double>(i)));
  return s;
}

TEST(PlanRanks, BaseRankRules) {
  const ModuleGeometry normal = make("a", 0, ProjRole::V, decaying(16, 2.0), 16, 32);
  EXPECT_GT(normal.geo.tail_dims, 0);
  EXPECT_EQ(base_rank(normal.geo), normal.geo.tail_dims);
  // A 1×N matrix: n_svs = 1 ⇒ k = 1, tail_dims = 0, gap = σ_k > 0 ⇒ a rank-1 "zero-tail" target.
  const ModuleGeometry row = make("b", 0, ProjRole::O, {3.0}, 1, 40);
  EXPECT_EQ(row.geo.tail_dims, 0);
  EXPECT_EQ(base_rank(row.geo), 1);
  // All-zero 1×N: §2 sets σ_k to float32's tiny and gap = σ_k, so even this is a (useless) rank-1
  // target with a tiny bound — the spec's literal rule, kept.
  const ModuleGeometry zero = make("c", 0, ProjRole::O, {0.0}, 1, 40);
  EXPECT_EQ(base_rank(zero.geo), 1);
  EXPECT_DOUBLE_EQ(scale_bound(zero.geo, true), geometry::kTinyF32 / 4.0 * (1.0 - kSqrtEps));
  // tail_dims = 0 and no gap ⇒ not a target.
  geometry::LayerGeometry flat;
  flat.m = flat.full_rank = flat.n_svs = flat.k = 1;
  flat.n = 8;
  flat.sigma_max = flat.sigma_k = 1.0;
  EXPECT_EQ(base_rank(flat), 0);
}

TEST(PlanRanks, ZeroTailModuleKeepsRankOneAndGapBound) {
  std::vector<ModuleGeometry> g = {make("model.layers.0.row", 0, ProjRole::O, {3.0}, 1, 40),
                                   make("model.layers.0.v", 0, ProjRole::V, decaying(16, 2.0), 16, 32)};
  const RankPlan p = derive_targets(g, 1000, nullptr);
  ASSERT_EQ(p.modules.size(), 2u);
  EXPECT_TRUE(p.modules[0].zero_tail);
  EXPECT_EQ(p.modules[0].rank, 1);  // min(r, tail_dims = 0) must not zero it
  EXPECT_DOUBLE_EQ(p.modules[0].scale_bound, 3.0 / 4.0 * (1.0 - kSqrtEps));
  EXPECT_FALSE(p.modules[1].zero_tail);
  EXPECT_DOUBLE_EQ(p.modules[1].scale_bound, g[1].geo.sigma_k / 2.0 * (1.0 - kSqrtEps));
  EXPECT_EQ(trainable_params(p.modules), 1 * (40 + 1 + 1) + p.modules[1].rank * (32 + 16 + 1));
}

TEST(PlanRanks, AttentionCouplingPerLayer) {
  // q has a big tail, k a small one: r(q) drops to r(k) in the same layer only.
  std::vector<ModuleGeometry> g = {make("L0.q", 0, ProjRole::Q, decaying(64, 4.0), 64, 64),
                                   make("L0.k", 0, ProjRole::K, decaying(16, 1.0), 16, 64),
                                   make("L1.q", 1, ProjRole::Q, decaying(64, 4.0), 64, 64)};
  ASSERT_GT(g[0].geo.tail_dims, g[1].geo.tail_dims);
  const RankPlan p = derive_targets(g, 100000, nullptr);
  ASSERT_EQ(p.modules.size(), 3u);
  EXPECT_EQ(p.modules[0].coupled_rank, g[1].geo.tail_dims);
  EXPECT_EQ(p.modules[0].rank, g[1].geo.tail_dims);
  EXPECT_EQ(p.modules[2].coupled_rank, g[2].geo.tail_dims);  // no k in layer 1
  EXPECT_EQ(p.ceiling_source, kCeilingSourceDataRank);
}

TEST(PlanRanks, Ceilings) {
  std::vector<ModuleGeometry> g = {make("L0.v", 0, ProjRole::V, decaying(64, 4.0), 64, 64),
                                   make("L1.v", 1, ProjRole::V, decaying(64, 4.0), 64, 64),
                                   make("L2.v", 2, ProjRole::V, decaying(64, 4.0), 64, 64)};
  const int64_t tail = g[0].geo.tail_dims;
  ASSERT_GT(tail, 5);
  // Data-rank fallback.
  RankPlan p = derive_targets(g, 3, nullptr);
  for (const auto& m : p.modules) EXPECT_EQ(m.rank, 3);
  // RMT: layer 0 limited by floor(act_erank), layer 1 by signal_rank (0 → 1), layer 2 absent keeps rank.
  SignalRanks sig;
  sig[0] = LayerSignal{0, 10, 64, 4, 5, 2.9, 1.0, 1.0, 0.5};
  sig[1] = LayerSignal{1, 10, 64, 0, 9, 30.0, 1.0, 1.0, 0.0};
  p = derive_targets(g, 3, &sig);
  EXPECT_EQ(p.ceiling_source, kCeilingSourceRmt);
  EXPECT_EQ(p.modules[0].rank, 2);
  EXPECT_EQ(p.modules[1].rank, 1);
  EXPECT_EQ(p.modules[2].rank, tail);
  // An empty signal map is "no signal ranks": data-rank fallback.
  SignalRanks none;
  p = derive_targets(g, 3, &none);
  EXPECT_EQ(p.ceiling_source, kCeilingSourceDataRank);
  EXPECT_THROW(derive_targets(g, 0, nullptr), Error);
}

TEST(PlanRanks, PerModuleFormulas) {
  const ModuleGeometry g = make("x", 0, ProjRole::Up, decaying(20, 5.0), 20, 30);
  const double sk = g.geo.sigma_k, sm = g.geo.sigma_max;
  EXPECT_DOUBLE_EQ(decay_scale(g.geo), sk / sm);
  EXPECT_DOUBLE_EQ(adam_eps_floor(g.geo), std::max(sk * sk, kSqrtEps * sm * sm));
  EXPECT_DOUBLE_EQ(dropout_formula(g.geo, 3), (1.0 - g.geo.erank / 20.0) * (3.0 / 20.0));
  geometry::LayerGeometry zero;
  EXPECT_DOUBLE_EQ(decay_scale(zero), 1.0);
}

TEST(PlanRanks, Errors) {
  // Nothing targetable: tail_dims = 0 and spectral_gap = 0.
  std::vector<ModuleGeometry> g = {make("z", 0, ProjRole::O, {2.0}, 1, 8)};
  g[0].geo.spectral_gap = 0.0;
  EXPECT_THROW(derive_targets(g, 10, nullptr), Error);
  // Non-finite geometry names the module and quantity.
  std::vector<ModuleGeometry> bad = {make("model.layers.0.mlp.up_proj", 0, ProjRole::Up, decaying(8, 1.0), 8, 8)};
  bad[0].geo.sigma_k = std::numeric_limits<double>::quiet_NaN();
  try {
    derive_targets(bad, 10, nullptr);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj.weight: non-finite sigma_k"), std::string::npos)
        << e.what();
    EXPECT_EQ(e.code(), ExitCode::BadInput);
  }
}

TEST(PlanCeiling, EtaCeilingAndErrors) {
  std::vector<PlannedModule> t(2);
  t[0].name = "a";
  t[0].sigma_k = 0.02;
  t[0].sigma_max = 3.0;
  t[1].name = "b";
  t[1].sigma_k = 0.5;
  t[1].sigma_max = 8.0;
  const SpectralCeiling c = spectral_ceiling(t);
  EXPECT_DOUBLE_EQ(c.sigma_k_min, 0.02);
  EXPECT_DOUBLE_EQ(c.sigma_max, 8.0);
  EXPECT_EQ(c.sigma_k_min_module, "a");
  EXPECT_EQ(c.sigma_max_module, "b");
  EXPECT_DOUBLE_EQ(c.eta_ceiling0, 0.02 / 8.0);
  EXPECT_DOUBLE_EQ(eta_ceiling(c.eta_ceiling0, 1), c.eta_ceiling0);
  EXPECT_DOUBLE_EQ(eta_ceiling(c.eta_ceiling0, 16), c.eta_ceiling0 / 4.0);

  t[0].sigma_k = 0.0;
  try {
    spectral_ceiling(t);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("insufficient_adapter_geometry: sigma_k_min"), std::string::npos) << e.what();
  }
  t[0].sigma_k = std::numeric_limits<double>::infinity();
  EXPECT_THROW(spectral_ceiling(t), Error);
  EXPECT_THROW(spectral_ceiling({}), Error);
}

TEST(PlanBatch, CriticalBatchEdgeCases) {
  // Fewer than two gradients.
  std::vector<std::vector<float>> one = {{1.0f, 2.0f}};
  EXPECT_EQ(critical_batch(one, 50).batch_size, 1);
  // Identical gradients: no noise ⇒ B_simple = 0 ⇒ B = 1.
  std::vector<std::vector<float>> same(5, std::vector<float>{1.0f, -1.0f, 0.5f});
  const CriticalBatch s = critical_batch(same, 50);
  EXPECT_EQ(s.batch_size, 1);
  EXPECT_DOUBLE_EQ(s.trace_sigma, 0.0);
  // Zero mean gradient: SNR 0 ⇒ B = 1 with a note (training.md §3.8).
  std::vector<std::vector<float>> sym = {{1.0f, 0.0f}, {-1.0f, 0.0f}};
  const CriticalBatch z = critical_batch(sym, 50);
  EXPECT_EQ(z.batch_size, 1);
  EXPECT_FALSE(z.note.empty());
  // Hand-computed: g = (1,0), (3,0): ḡ = (2,0), ‖ḡ‖² = 4, trΣ = (1+1)/1 = 2 ⇒ B_simple = 0.5 ⇒ B = 1;
  // unbiased ‖G‖² = 4 − 2/2 = 3 ⇒ 2/3.
  std::vector<std::vector<float>> two = {{1.0f, 0.0f}, {3.0f, 0.0f}};
  const CriticalBatch h = critical_batch(two, 50);
  EXPECT_DOUBLE_EQ(h.grad_mean_sq_norm, 4.0);
  EXPECT_DOUBLE_EQ(h.trace_sigma, 2.0);
  EXPECT_DOUBLE_EQ(h.b_simple, 0.5);
  EXPECT_DOUBLE_EQ(h.grad_sq_norm_unbiased, 3.0);
  EXPECT_DOUBLE_EQ(h.b_simple_unbiased, 2.0 / 3.0);
  EXPECT_EQ(h.batch_size, 1);
  // Errors.
  std::vector<std::vector<float>> ragged = {{1.0f}, {1.0f, 2.0f}};
  EXPECT_THROW(critical_batch(ragged, 5), Error);
  std::vector<std::vector<float>> inf = {{1.0f}, {std::numeric_limits<float>::infinity()}};
  EXPECT_THROW(critical_batch(inf, 5), Error);
  EXPECT_THROW(critical_batch(two, 0), Error);
}

TEST(PlanBatch, EpochAndSafetyCap) {
  EXPECT_EQ(kSafetyCapEpochs, static_cast<int64_t>(std::ceil(1.0 / kSqrtEps)));
  EXPECT_EQ(steps_per_epoch(480, 7), 69);
  EXPECT_EQ(steps_per_epoch(7, 7), 1);
  EXPECT_EQ(safety_cap_iters(69), 69 * 2897);
}

TEST(PlanSignal, LayerSignalIsMpOfCentredActivations) {
  Rng rng(9);
  const int64_t N = 24, D = 16;
  geometry::MatrixD x(N, D);
  for (int64_t i = 0; i < N; ++i) {
    const double spike = rng.normal();
    for (int64_t j = 0; j < D; ++j) x(i, j) = 5.0 + 0.3 * rng.normal() + (j < 2 ? 4.0 * spike : 0.0);
  }
  const LayerSignal s = layer_signal_rank(x.view(), 3);
  geometry::MatrixD c(N, D);
  for (int64_t j = 0; j < D; ++j) {
    double mu = 0.0;
    for (int64_t i = 0; i < N; ++i) mu += x(i, j);
    mu /= N;
    for (int64_t i = 0; i < N; ++i) c(i, j) = x(i, j) - mu;
  }
  const geometry::MpSignalRank mp = geometry::mp_signal_rank(geometry::singular_values(c.view()), N, D, true);
  EXPECT_EQ(s.layer, 3);
  EXPECT_EQ(s.signal_rank, mp.signal_rank);
  EXPECT_GE(s.signal_rank, 1);  // the planted spike
  EXPECT_EQ(s.noise_rank, std::min(N - 1, D) - mp.signal_rank);
  EXPECT_DOUBLE_EQ(s.mp_upper_edge, mp.edge);
  EXPECT_DOUBLE_EQ(s.act_erank, mp.activation_erank);
  EXPECT_DOUBLE_EQ(s.signal_variance_fraction, mp.signal_variance_fraction);
  // Per-layer wrapper: layers with < 2 probes are skipped.
  std::vector<geometry::MatrixD> layers = {x, geometry::MatrixD(1, D), x};
  const SignalRanks all = signal_ranks(layers);
  EXPECT_EQ(all.size(), 2u);
  EXPECT_TRUE(all.count(0) && all.count(2));
  EXPECT_THROW(layer_signal_rank(geometry::MatrixD(1, D).view(), 0), Error);
}

TEST(PlanOutput, DefaultPathFollowsDecision7) {
  EXPECT_EQ(default_output_path("/models/SmolLM2", 123456789), "/models/adapters/SmolLM2-geometric-lora-123456789");
  EXPECT_EQ(default_output_path("/models/SmolLM2/", 7), "/models/adapters/SmolLM2-geometric-lora-7");
  EXPECT_EQ(default_output_path("SmolLM2", 7), "adapters/SmolLM2-geometric-lora-7");
  EXPECT_EQ(default_output_path("a/b", 0), "a/adapters/b-geometric-lora-0");
}

TEST(PlanOutput, ThousandsSeparator) {
  EXPECT_EQ(with_thousands(0), "0");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(1000), "1,000");
  EXPECT_EQ(with_thousands(1572864), "1,572,864");
  EXPECT_EQ(with_thousands(-12345), "-12,345");
}

}  // namespace
}  // namespace mc::train

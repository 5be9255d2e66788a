// `mc model capacity` and the activation profiles on SmolLM2-135M-Instruct (MC_REAL_MODEL_DIR, imported
// by `mc model import-gguf`, bf16) against tests/data/capacity/golden.json (tools/gen_capacity_goldens.py):
// three weight matrices against numpy float64 SVD + weightwatcher 0.7.7 (the same bf16 values, from the
// imported directory or the GGUF rounded to bf16), the whole-model walk, and the per-layer TwoNN /
// entropy-lens profiles against transformers 5.23 + scikit-dimension on the same directory.
// Skipped when the model directory is absent, unless MC_REQUIRE_REAL=1.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/json.h"
#include "model/capacity.h"
#include "model/capacity_probes.h"
#include "test_util.h"

namespace mc {
namespace {

// See tests/golden/cli_geometry_test.cpp for the derivations: double SVDs agree to ~1e-13·σ_max.
constexpr double kSmoothRelTol = 1e-10;
constexpr double kAlphaRelTol = 1e-9;
// Activation profiles of a 30-layer model: hidden states agree to ~1e-5 relative with transformers
// (forward_real_test.cpp bounds logits at 2e-5). TwoNN on 12 pooled points: relative 5e-3; the
// entropy lens over V = 49152 logits: absolute 2e-3 nats.
constexpr double kRealIdRelTol = 5e-3;
constexpr double kRealEntropyAbsTol = 2e-3;

bool have_model() {
  const bool present = std::filesystem::exists(std::string(MC_REAL_MODEL_DIR) + "/model.safetensors");
  if (!present && std::getenv("MC_REQUIRE_REAL") && std::string(std::getenv("MC_REQUIRE_REAL")) == "1")
    ADD_FAILURE() << "MC_REQUIRE_REAL=1 but " << MC_REAL_MODEL_DIR << " is missing";
  return present;
}

const Json& golden() {
  static const Json g = json_load(test::data_path("capacity/golden.json"), "golden");
  return g;
}

double num(const Json& j) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    return s == "inf" ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  }
  return j.get<double>();
}

void expect_rel(double got, double want, double tol, const std::string& what) {
  EXPECT_LE(std::fabs(got - want), tol * std::max(1.0, std::fabs(want))) << what << ": got " << got << ", want " << want;
}

TEST(CapacityReal, ThreeSmolLM2MatricesMatchNumpyAndWeightWatcher) {
  if (!have_model()) GTEST_SKIP() << MC_REAL_MODEL_DIR << " not found (run mc model import-gguf)";
  CapacityOptions o;
  std::vector<std::string> names;
  for (const auto& m : golden()["smollm2"]["matrices"]) o.include.push_back(m["name"].get<std::string>());
  CapacityReport r = capacity_analyze(MC_REAL_MODEL_DIR, o);
  ASSERT_EQ(r.matrices.size(), 3u);
  for (const auto& g : golden()["smollm2"]["matrices"]) {
    const MatrixCapacity* c = nullptr;
    for (const auto& m : r.matrices)
      if (m.name == g["name"]) c = &m;
    ASSERT_NE(c, nullptr) << g["name"];
    const std::string n = c->name;
    EXPECT_EQ(c->dtype, "BF16");
    expect_rel(c->cap.spectral_norm, num(g["sigma_max"]), kSmoothRelTol, n + " σ_max");
    expect_rel(c->cap.frobenius_norm, num(g["frobenius_norm"]), kSmoothRelTol, n + " ‖W‖_F");
    expect_rel(c->cap.nuclear_norm, num(g["nuclear_norm"]), kSmoothRelTol, n + " nuclear");
    expect_rel(c->cap.stable_rank, num(g["stable_rank"]), kSmoothRelTol, n + " stable rank");
    expect_rel(c->geo.erank, num(g["effective_rank"]), kSmoothRelTol, n + " erank");
    expect_rel(c->cap.effective_rank, num(g["participation_ratio"]), kSmoothRelTol, n + " PR");
    EXPECT_EQ(c->numerical_rank, g["numerical_rank"].get<int64_t>()) << n;
    EXPECT_EQ(c->cap.numerical_rank_f16, g["numerical_rank_f16"].get<int64_t>()) << n;
    EXPECT_EQ(c->geo.k, g["structural_rank"].get<int64_t>()) << n;
    EXPECT_EQ(c->geo.tail_dims, g["tail_dims"].get<int64_t>()) << n;
    EXPECT_EQ(c->cap.recommended_rank, g["recommended_rank"].get<int64_t>()) << n;
    expect_rel(c->condition_number, num(g["condition_number"]), kSmoothRelTol, n + " condition");
    ASSERT_TRUE(c->alpha.ok) << n;
    expect_rel(c->alpha.alpha, num(g["alpha"]["alpha"]), kAlphaRelTol, n + " α");
    expect_rel(c->alpha.xmin, num(g["alpha"]["xmin"]), kAlphaRelTol, n + " x_min");
    EXPECT_EQ(c->alpha.num_pl_spikes, g["alpha"]["num_pl_spikes"].get<int64_t>()) << n;
  }
}

TEST(CapacityReal, WholeModelWalk) {
  if (!have_model()) GTEST_SKIP() << MC_REAL_MODEL_DIR << " not found";
  CapacityOptions o;
  o.threads = 2;
  const auto t0 = std::chrono::steady_clock::now();
  CapacityReport r = capacity_analyze(MC_REAL_MODEL_DIR, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("capacity of %zu SmolLM2 matrices: %.1f s on 2 threads\n", r.matrices.size(), s);
  // 30 layers × 7 projections + the (tied) embedding.
  EXPECT_EQ(r.matrices.size(), 211u);
  EXPECT_EQ(r.model_type, "llama");
  EXPECT_EQ(r.summary.total_parameters, 134515008u);
  EXPECT_EQ(r.summary.alpha_fitted, 211);
  EXPECT_EQ(r.summary.reference_rank_dimension, 576);
  for (const auto& c : r.matrices) {
    EXPECT_GE(c.geo.erank, 1.0) << c.name;
    EXPECT_LE(c.geo.erank, static_cast<double>(std::min(c.m, c.n))) << c.name;
    EXPECT_LE(c.cap.stable_rank, c.cap.effective_rank + 1e-9) << c.name;
    EXPECT_LE(c.cap.numerical_rank_f16, c.cap.numerical_rank_f32) << c.name;
  }
  std::vector<ModuleTrajectory> t = spectral_trajectory(r);
  ASSERT_EQ(t.size(), 7u);
  for (const auto& m : t) EXPECT_EQ(m.layers.size(), 30u) << m.module;
}

TEST(ActivationsReal, DimensionProfileAndEntropyLensMatchTransformers) {
  if (!have_model()) GTEST_SKIP() << MC_REAL_MODEL_DIR << " not found";
  if (!golden()["activations"].contains("smollm2")) GTEST_SKIP() << "golden.json has no SmolLM2 profiles";
  const Json& g = golden()["activations"]["smollm2"];
  ProbeModel pm = probe_model_load(MC_REAL_MODEL_DIR);
  ProbePass pass;
  probe_pass(pm, g["dimension_profile"]["probes"].get<std::vector<std::string>>(), pass);
  const DimensionProfile dp = dimension_profile(pass, parse_layer_list("all", pass.n_layers), false);
  ASSERT_EQ(dp.layers.size(), 30u);
  for (size_t l = 0; l < dp.layers.size(); ++l)
    expect_rel(dp.layers[l].intrinsic_dimension, num(g["dimension_profile"]["layer_ids"][l]), kRealIdRelTol,
               "layer " + std::to_string(l) + " ID");
  const Json& ge = g["entropy_trajectory"];
  ProbePass epass;
  probe_pass(pm, ge["probes"].get<std::vector<std::string>>(), epass);
  for (const bool fn : {true, false}) {
    const EntropyTrajectory et = entropy_trajectory(pm, epass, parse_layer_list("all", epass.n_layers), fn);
    const Json& e = ge[fn ? "final_norm" : "raw"];
    for (size_t l = 0; l < et.entropy.size(); ++l)
      EXPECT_NEAR(et.entropy[l], num(e["entropy"][l]), kRealEntropyAbsTol) << "layer " << l << " final_norm " << fn;
  }
}

}  // namespace
}  // namespace mc

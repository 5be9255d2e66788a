// `mc model capacity`, `mc analyze spectral-trajectory / intrinsic-dimension / cka / lora-svd` and
// `mc adapter analyze` against independent references (tests/data/capacity/golden.json, written by
// tools/gen_capacity_goldens.py): numpy float64 SVD and the spec formulas for every 2-D tensor of the five
// tiny transformers fixtures, weightwatcher 0.7.7's α, PEFT 0.21.2's own scaling and ΔW for three PEFT
// adapters made by PEFT, numpy for every adapter measure, scikit-dimension 0.5.0 for TwoNN/MLE on .npy
// and .safetensors files, a direct numpy CKA, scipy's Spearman. First through the library functions,
// then through the `mc` binary (--json), plus the bad-input contract: exit 1 and one line naming the
// problem. The binary tests skip while the commands are not registered in src/cli/commands.h.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "geometry/cka.h"
#include "geometry/intrinsic_dimension.h"
#include "io/safetensors.h"
#include "model/capacity.h"
#include "model/capacity_activations.h"
#include "model/capacity_adapter.h"
#include "model/capacity_probes.h"
#include "cli_test_util.h"

namespace mc {
namespace {

using test::expect_one_line_error;

// Tolerances (both sides compute in double on identical float inputs; see geometry_golden_test.cpp).
// Smooth functions of the singular values (norms, ranks as real numbers, ratios): two backward-stable
// double SVDs agree to ~1e-13·σ_max for these sizes; 1e-10 relative leaves margin.
constexpr double kSmoothRelTol = 1e-10;
// weightwatcher α / x_min / D: identical formulas on eigenvalues equal to ~1e-13; discrete x_min choice.
constexpr double kAlphaRelTol = 1e-9;
// Subspace overlaps, Weyl utilization, amplification CV, intruder similarities: built from singular
// vectors, which are as accurate as the gaps between singular values allow (gap/σ_max ≳ 1e-3 here):
// ~1e-12 in practice; 1e-8 relative.
constexpr double kVectorRelTol = 1e-8;
// ΔW: PEFT's scale is exact; ours multiplies float32 factors in double, numpy the same: 1e-10.
// TwoNN / MLE: the same distances, logs and sums in double: 1e-9 relative (geometry_golden_test).
constexpr double kIdRelTol = 1e-9;
constexpr double kCkaRelTol = 1e-9;
// Activation profiles: our fp32 forward against transformers' fp32 eager forward differ by a few fp32 ulps
// (≤ 1e-6 relative, forward_golden_test.cpp). TwoNN on 12 pooled points turns that into ~1e-5 relative
// at most (ratios of neighbour distances); entropies (≤ ln 256 nats) move by ~1e-6; CKA by ~1e-6.
constexpr double kActIdRelTol = 1e-4;
constexpr double kActEntropyAbsTol = 1e-5;
constexpr double kActCkaAbsTol = 1e-5;

const Json& golden() {
  static const Json g = json_load(test::data_path("capacity/golden.json"), "golden");
  return g;
}

/// A golden number: JSON number, or the strings "inf" / "-inf" / "nan" the generator writes.
double num(const Json& j) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  return j.get<double>();
}

void expect_rel(double got, double want, double tol, const std::string& what) {
  if (std::isinf(want) || std::isnan(want)) {
    EXPECT_EQ(std::isinf(got), std::isinf(want)) << what << ": got " << got << ", want " << want;
    EXPECT_EQ(std::isnan(got), std::isnan(want)) << what << ": got " << got << ", want " << want;
    return;
  }
  EXPECT_LE(std::fabs(got - want), tol * std::max(1.0, std::fabs(want))) << what << ": got " << got << ", want "
                                                                           << want;
}

template <typename F>
void expect_error_component(F&& f, const std::string& component, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected mc::Error [" << component << "] containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), component) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}


/// Skips the calling test while `mc <group> <command>` is not in the command table yet.
#define SKIP_UNLESS_REGISTERED(cmd)                                                                \
  do {                                                                                             \
    auto probe_ = test::run_mc(std::string(cmd) + " --help");                                      \
    if (probe_.err.find("unknown command") != std::string::npos)                                   \
      GTEST_SKIP() << "`mc " << cmd << "` is not registered in src/cli/commands.h yet";            \
  } while (0)


std::string q(const std::string& s) { return "'" + s + "'"; }

/// `alpha`: compare α too (false for WeightWatcher's small-N path, checked in its own test below).
void expect_capacity(const MatrixCapacity& c, const Json& g, bool alpha = true) {
  const std::string n = g["name"].get<std::string>();
  EXPECT_EQ(c.m, g["shape"][0].get<int64_t>()) << n;
  EXPECT_EQ(c.n, g["shape"][1].get<int64_t>()) << n;
  const double smax = num(g["sigma_max"]);
  expect_rel(c.cap.spectral_norm, smax, kSmoothRelTol, n + " sigma_max");
  expect_rel(c.cap.frobenius_norm, num(g["frobenius_norm"]), kSmoothRelTol, n + " frobenius");
  expect_rel(c.cap.nuclear_norm, num(g["nuclear_norm"]), kSmoothRelTol, n + " nuclear");
  expect_rel(c.cap.stable_rank, num(g["stable_rank"]), kSmoothRelTol, n + " stable_rank");
  expect_rel(c.geo.erank, num(g["effective_rank"]), kSmoothRelTol, n + " effective_rank");
  expect_rel(c.cap.effective_rank, num(g["participation_ratio"]), kSmoothRelTol, n + " participation_ratio");
  expect_rel(c.cap.capacity_utilization, num(g["capacity_utilization"]), kSmoothRelTol, n + " utilization");
  EXPECT_EQ(c.numerical_rank, g["numerical_rank"].get<int64_t>()) << n;
  EXPECT_EQ(c.cap.numerical_rank_f32, g["numerical_rank_f32"].get<int64_t>()) << n;
  EXPECT_EQ(c.cap.numerical_rank_f16, g["numerical_rank_f16"].get<int64_t>()) << n;
  EXPECT_EQ(c.cap.null_space_dim_f32, g["null_space_dim_f32"].get<int64_t>()) << n;
  expect_rel(c.cap.null_space_fraction, num(g["null_space_fraction"]), 1e-15, n + " null_space_fraction");
  EXPECT_EQ(c.geo.k, g["structural_rank"].get<int64_t>()) << n;
  EXPECT_EQ(c.geo.tail_dims, g["tail_dims"].get<int64_t>()) << n;
  expect_rel(c.geo.sigma_k, num(g["sigma_k"]), kSmoothRelTol, n + " sigma_k");
  // σ_{k−1} − σ_k: an absolute difference of two σ's, accurate to ~1e-13·σ_max.
  EXPECT_LE(std::fabs(c.geo.spectral_gap - num(g["spectral_gap"])), kSmoothRelTol * smax) << n;
  expect_rel(c.geo.decay_ratio, num(g["decay_ratio"]), kSmoothRelTol, n + " decay_ratio");
  EXPECT_EQ(c.cap.recommended_rank, g["recommended_rank"].get<int64_t>()) << n;
  expect_rel(c.cap.spectral_gap_at_rank, num(g["recommended_gap_ratio"]), kSmoothRelTol, n + " gap ratio");
  expect_rel(c.condition_number, num(g["condition_number"]), kSmoothRelTol, n + " condition_number");
  if (g["alpha"].is_null()) {
    EXPECT_FALSE(c.alpha.ok) << n;
  } else if (alpha) {
    ASSERT_TRUE(c.alpha.ok) << n;
    const Json& a = g["alpha"];
    expect_rel(c.alpha.alpha, num(a["alpha"]), kAlphaRelTol, n + " alpha");
    expect_rel(c.alpha.xmin, num(a["xmin"]), kAlphaRelTol, n + " xmin");
    expect_rel(c.alpha.xmax, num(a["xmax"]), kAlphaRelTol, n + " xmax");
    expect_rel(c.alpha.D, num(a["D"]), kAlphaRelTol, n + " D");
    EXPECT_EQ(c.alpha.num_pl_spikes, a["num_pl_spikes"].get<int64_t>()) << n;
    if (!c.alpha.small_n) expect_rel(c.alpha.sigma, num(a["sigma"]), kAlphaRelTol, n + " sigma");
  }
}

void expect_summary(const CapacitySummary& s, const Json& g, const std::string& what, bool alpha = true) {
  EXPECT_EQ(s.total_parameters, g["total_parameters"].get<uint64_t>()) << what;
  EXPECT_EQ(s.analyzed_parameters, g["analyzed_parameters"].get<uint64_t>()) << what;
  EXPECT_EQ(s.analyzed_matrices, g["analyzed_matrices"].get<int64_t>()) << what;
  expect_rel(s.median_sigma_max, num(g["median_sigma_max"]), kSmoothRelTol, what + " median σ_max");
  expect_rel(s.median_stable_rank, num(g["median_stable_rank"]), kSmoothRelTol, what + " median stable rank");
  expect_rel(s.median_effective_rank, num(g["median_effective_rank"]), kSmoothRelTol, what + " median erank");
  expect_rel(s.median_participation_ratio, num(g["median_participation_ratio"]), kSmoothRelTol, what + " median PR");
  if (alpha) expect_rel(s.median_alpha, num(g["median_alpha"]), kAlphaRelTol, what + " median α");
  EXPECT_EQ(s.alpha_fitted, g["alpha_fitted"].get<int64_t>()) << what;
  expect_rel(s.mean_capacity_utilization, num(g["mean_capacity_utilization"]), kSmoothRelTol, what + " utilization");
  EXPECT_EQ(s.total_tail_dims, g["total_tail_dims"].get<int64_t>()) << what;
  EXPECT_EQ(s.targetable_matrices, g["targetable_matrices"].get<int64_t>()) << what;
  EXPECT_EQ(s.reference_rank_dimension, g["reference_rank_dimension"].get<int64_t>()) << what;
}

// --- library level -----------------------------------------------------------------------------------

TEST(CapacityGolden, EveryFixtureMatrixMatchesNumpyAndWeightWatcher) {
  int checked = 0;
  for (const auto& [type, fx] : golden()["fixtures"].items()) {
    CapacityOptions o;
    o.threads = 2;
    CapacityReport r = capacity_analyze(test::data_path("hf/" + type), o);
    EXPECT_EQ(r.model_type, type);
    std::map<std::string, const MatrixCapacity*> by_name;
    for (const auto& c : r.matrices) by_name[c.name] = &c;
    ASSERT_EQ(r.matrices.size(), fx["matrices"].size()) << type;
    bool any_small_n = false;
    for (const auto& g : fx["matrices"]) {
      auto it = by_name.find(g["name"].get<std::string>());
      ASSERT_NE(it, by_name.end()) << type << ": " << g["name"];
      expect_capacity(*it->second, g, !it->second->alpha.small_n);
      any_small_n = any_small_n || it->second->alpha.small_n;
      ++checked;
    }
    expect_summary(r.summary, fx["summary"], type, !any_small_n);
  }
  EXPECT_GE(checked, 60);
}

// WeightWatcher 0.7.7's small-N path (fewer than 20 eigenvalues: the 16-row k/v projections of the
// mistral and qwen2 fixtures). WWFit.fit_powerlaw_smallN ranks candidates by J = D − 0.868/√n, but
// WWFit.__init__ then overrides that choice with i = np.argmin(self.Ds) (WW_powerlaw.py, lines 55–60),
// so the α weightwatcher reports is the bias-corrected α at the first minimum of the KS distance over
// tails of ≥ 8 values. This test needs src/geometry/powerlaw.cpp to select x_min that way.
TEST(CapacityGolden, SmallNAlphaMatchesWeightWatcher) {
  int checked = 0;
  for (const auto& [type, fx] : golden()["fixtures"].items()) {
    CapacityReport r = capacity_analyze(test::data_path("hf/" + type));
    std::map<std::string, const MatrixCapacity*> by_name;
    for (const auto& c : r.matrices) by_name[c.name] = &c;
    bool any_small_n = false;
    for (const auto& g : fx["matrices"]) {
      const MatrixCapacity& c = *by_name.at(g["name"].get<std::string>());
      if (!c.alpha.small_n) continue;
      any_small_n = true;
      const std::string n = c.name;
      const Json& a = g["alpha"];
      expect_rel(c.alpha.alpha, num(a["alpha"]), kAlphaRelTol, n + " alpha");
      expect_rel(c.alpha.xmin, num(a["xmin"]), kAlphaRelTol, n + " xmin");
      expect_rel(c.alpha.D, num(a["D"]), kAlphaRelTol, n + " D");
      EXPECT_EQ(c.alpha.num_pl_spikes, a["num_pl_spikes"].get<int64_t>()) << n;
      ++checked;
    }
    if (any_small_n) expect_rel(r.summary.median_alpha, num(fx["summary"]["median_alpha"]), kAlphaRelTol, type + " median α");
  }
  EXPECT_EQ(checked, 8);
}

TEST(CapacityGolden, SpearmanMatchesScipy) {
  for (const auto& c : golden()["spearman"]) {
    std::vector<double> x, y;
    for (const auto& v : c["x"]) x.push_back(v.get<double>());
    for (const auto& v : c["y"]) y.push_back(v.get<double>());
    expect_rel(spearman(x, y), num(c["rho"]), 1e-12, "spearman");
  }
}

const Json& adapter_golden(const std::string& dir) {
  for (const auto& a : golden()["adapters"])
    if (a["dir"] == dir) return a;
  throw std::runtime_error("no golden adapter " + dir);
}

void expect_lora(const LoraModuleGeometry& m, const Json& g) {
  const std::string n = g["module"].get<std::string>();
  EXPECT_EQ(m.mod.r, g["r"].get<int64_t>()) << n;
  EXPECT_EQ(m.mod.layer, g["layer"].get<int64_t>()) << n;
  expect_rel(m.mod.scale, num(g["scale"]), 1e-15, n + " scale (PEFT LoraLayer.scaling)");
  expect_rel(m.a_frobenius, num(g["a_frobenius"]), kSmoothRelTol, n + " ‖A‖");
  expect_rel(m.b_frobenius, num(g["b_frobenius"]), kSmoothRelTol, n + " ‖B‖");
  ASSERT_EQ(m.delta_singular_values.size(), g["delta_singular_values"].size()) << n;
  for (size_t i = 0; i < m.delta_singular_values.size(); ++i)
    expect_rel(m.delta_singular_values[i], num(g["delta_singular_values"][i]), kSmoothRelTol, n + " σ(ΔW)");
  expect_rel(m.delta_frobenius, num(g["delta_frobenius"]), kSmoothRelTol, n + " ‖ΔW‖_F");
  expect_rel(m.delta_spectral, num(g["delta_spectral"]), kSmoothRelTol, n + " ‖ΔW‖₂");
  // erank of σ(ΔW): the min(m,n) − r rounding-level values contribute ~1e-30 each.
  expect_rel(m.delta_effective_rank, num(g["delta_effective_rank"]), kSmoothRelTol, n + " erank(ΔW)");
  EXPECT_EQ(m.delta_rank, g["delta_rank"].get<int64_t>()) << n;
  ASSERT_TRUE(m.has_base);
  expect_rel(m.base_sigma_max, num(g["base_sigma_max"]), kSmoothRelTol, n + " σ₁(W)");
  expect_rel(m.base_frobenius, num(g["base_frobenius"]), kSmoothRelTol, n + " ‖W‖_F");
  expect_rel(m.spectral_ratio, num(g["spectral_ratio"]), kSmoothRelTol, n + " spectral ratio");
  expect_rel(m.relative_change, num(g["relative_change"]), kSmoothRelTol, n + " relative change");
  EXPECT_EQ(m.rank_before, g["rank_before"].get<int64_t>()) << n;
  EXPECT_EQ(m.rank_after, g["rank_after"].get<int64_t>()) << n;
  expect_rel(m.left_top_overlap, num(g["left_top_overlap"]), kVectorRelTol, n + " left top overlap");
  expect_rel(m.left_tail_overlap, num(g["left_tail_overlap"]), kVectorRelTol, n + " left tail overlap");
  expect_rel(m.right_top_overlap, num(g["right_top_overlap"]), kVectorRelTol, n + " right top overlap");
  expect_rel(m.right_tail_overlap, num(g["right_tail_overlap"]), kVectorRelTol, n + " right tail overlap");
  expect_rel(m.left_chance, num(g["left_chance"]), 1e-15, n + " left chance");
  expect_rel(m.right_chance, num(g["right_chance"]), 1e-15, n + " right chance");
  expect_rel(m.subspace_overlap, std::min(1.0, num(g["subspace_overlap"])), kVectorRelTol, n + " subspace overlap");
  EXPECT_LE(std::fabs(m.null_space_component - num(g["null_space_component"])), 1e-6) << n;  // √(1 − x²) near x = 1
  expect_rel(m.weyl_utilization, num(g["weyl_utilization"]), kVectorRelTol, n + " Weyl utilization");
  expect_rel(m.amplification_cv, num(g["amplification_cv"]), kVectorRelTol, n + " amplification CV");
  expect_rel(m.condition_ratio, num(g["condition_ratio"]), kSmoothRelTol, n + " condition ratio");
  EXPECT_EQ(m.intruder_dimensions, g["intruder_dimensions"].get<int64_t>()) << n;
  expect_rel(m.min_intruder_similarity, num(g["min_intruder_similarity"]), kVectorRelTol, n + " intruder similarity");
}

TEST(LoraGolden, AdaptersMadeByPeftMatchNumpy) {
  int checked = 0;
  for (const std::string dir : {"adapter_llama", "adapter_llama_patterns"}) {
    const Json& g = adapter_golden(dir);
    PeftAdapter a = peft_adapter_load(test::data_path("capacity/" + dir));
    EXPECT_EQ(a.r, g["r"].get<int64_t>());
    EXPECT_EQ(a.use_rslora, g["use_rslora"].get<bool>());
    SafetensorsModel base = SafetensorsModel::open(test::data_path("hf/llama"));
    std::vector<LoraModuleGeometry> mods = lora_analyze(a, &base);
    ASSERT_EQ(mods.size(), g["modules"].size()) << dir;
    int64_t params = 0;
    for (size_t i = 0; i < mods.size(); ++i) {
      EXPECT_EQ(mods[i].mod.module, g["modules"][i]["module"].get<std::string>());
      expect_lora(mods[i], g["modules"][i]);
      params += mods[i].mod.r * (mods[i].mod.in + mods[i].mod.out);
      ++checked;
    }
    EXPECT_EQ(params, g["total_params"].get<int64_t>()) << dir;
  }
  EXPECT_EQ(checked, 10);
}

TEST(LoraGolden, AdapterOfAnotherModelIsRejected) {
  PeftAdapter a = peft_adapter_load(test::data_path("capacity/adapter_qwen2"));
  SafetensorsModel llama = SafetensorsModel::open(test::data_path("hf/llama"));
  try {
    lora_analyze(a, &llama);
    ADD_FAILURE() << "qwen2 adapter accepted for llama";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), ExitCode::BadInput);
  }
  // Its own base is fine.
  SafetensorsModel qwen2 = SafetensorsModel::open(test::data_path("hf/qwen2"));
  EXPECT_EQ(lora_analyze(a, &qwen2).size(), 4u);
}

TEST(ActivationGolden, IntrinsicDimensionMatchesSkdim) {
  for (const auto& c : golden()["intrinsic_dimension"]) {
    const std::string tensor = c["tensor"].is_null() ? "" : c["tensor"].get<std::string>();
    geometry::DenseMatrix x = activation_matrix_load(test::data_path("capacity/" + c["file"].get<std::string>()), tensor);
    EXPECT_EQ(x.rows, c["shape"][0].get<int64_t>());
    geometry::MatrixViewD v(x.data.data(), x.rows, x.cols);
    expect_rel(geometry::twonn(v).dimension, num(c["twonn"]), kIdRelTol, c["file"].get<std::string>() + " TwoNN");
    expect_rel(geometry::mle_levina_bickel(v).dimension, num(c["mle"]), kIdRelTol, c["file"].get<std::string>() + " MLE");
  }
}

TEST(ActivationGolden, CkaMatchesNumpy) {
  const Json& g = golden()["cka"];
  auto a = activation_matrix_load(test::data_path("capacity/" + g["a"].get<std::string>()));
  auto b = activation_matrix_load(test::data_path("capacity/" + g["b"].get<std::string>()));
  for (const auto& r : g["results"]) {
    geometry::CkaOptions o;
    o.kernel = r["kernel"] == "rbf" ? geometry::CkaKernel::Rbf : geometry::CkaKernel::Linear;
    o.estimator = r["estimator"] == "unbiased" ? geometry::HsicEstimator::Unbiased : geometry::HsicEstimator::Biased;
    auto res = geometry::cka(geometry::MatrixViewD(a.data.data(), a.rows, a.cols),
                             geometry::MatrixViewD(b.data.data(), b.rows, b.cols), o);
    expect_rel(res.cka, num(r["cka"]), kCkaRelTol, "cka " + r["kernel"].get<std::string>());
  }
}


// --- activation profiles (engine forward + estimators) against transformers + skdim / numpy --------------

const Json& act_golden() { return golden()["activations"]; }

ProbeModel fixture_probe_model(const std::string& type) {
  return probe_model_load(test::data_path("hf/" + type), test::data_path("capacity/" + act_golden()["tokenizer"].get<std::string>()));
}

std::vector<std::string> golden_probes() {
  return probes_load(test::data_path("capacity/" + act_golden()["probes_file"].get<std::string>()));
}

TEST(ActivationProfileGolden, DimensionProfileMatchesTransformersAndSkdim) {
  const Json& g = act_golden()["llama"]["dimension_profile"];
  ProbeModel pm = fixture_probe_model("llama");
  ProbePass pass;
  probe_pass(pm, golden_probes(), pass);
  ASSERT_EQ(pass.batch.n_seq(), static_cast<int64_t>(g["probes"].size()));
  const DimensionProfile dp = dimension_profile(pass, parse_layer_list("all", pass.n_layers), false);
  ASSERT_EQ(dp.layers.size(), g["layer_ids"].size());
  for (size_t l = 0; l < dp.layers.size(); ++l)
    expect_rel(dp.layers[l].intrinsic_dimension, num(g["layer_ids"][l]), kActIdRelTol, str("layer ", l, " ID"));
  expect_rel(dp.min_id, num(g["min"]), kActIdRelTol, "min ID");
  expect_rel(dp.mean_id, num(g["mean"]), kActIdRelTol, "mean ID");
  expect_rel(dp.compression_ratio, num(g["compression_ratio"]), kActIdRelTol, "compression");
  expect_rel(dp.recovery_ratio, num(g["recovery_ratio"]), kActIdRelTol, "recovery");
  EXPECT_EQ(dp.highway_layers, g["highway"].get<std::vector<int64_t>>());
  // Fewer than 10 probes: every layer NaN with a reason.
  ProbePass few;
  const std::vector<std::string> all = golden_probes();
  probe_pass(pm, std::vector<std::string>(all.begin(), all.begin() + 5), few);
  const DimensionProfile dfew = dimension_profile(few, {0, 1}, false);
  EXPECT_TRUE(std::isnan(dfew.layers[0].intrinsic_dimension));
  EXPECT_NE(dfew.layers[0].error.find("at least 10 probes"), std::string::npos);
}

TEST(ActivationProfileGolden, EntropyLensMatchesTransformers) {
  const Json& g = act_golden()["llama"]["entropy_trajectory"];
  ProbeModel pm = fixture_probe_model("llama");
  ProbePass pass;
  probe_pass(pm, g["probes"].get<std::vector<std::string>>(), pass);
  for (const bool fn : {true, false}) {
    const Json& e = g[fn ? "final_norm" : "raw"];
    const EntropyTrajectory et = entropy_trajectory(pm, pass, parse_layer_list("all", pass.n_layers), fn);
    EXPECT_EQ(et.vocab_size, e["vocab_size"].get<int64_t>());
    ASSERT_EQ(et.entropy.size(), e["entropy"].size());
    for (size_t l = 0; l < et.entropy.size(); ++l) {
      EXPECT_NEAR(et.entropy[l], num(e["entropy"][l]), kActEntropyAbsTol) << "layer " << l << " final_norm " << fn;
      for (size_t p = 0; p < et.per_probe[l].size(); ++p)
        EXPECT_NEAR(et.per_probe[l][p], num(e["per_probe"][l][p]), kActEntropyAbsTol) << l << "/" << p;
    }
    EXPECT_NEAR(et.slope, num(e["slope"]), 2 * kActEntropyAbsTol);
    EXPECT_DOUBLE_EQ(et.peak_layer_fraction, num(e["peak_layer_fraction"]));
    EXPECT_NEAR(et.monotonicity, num(e["monotonicity"]), 1e-12);
    EXPECT_NEAR(et.early_late_ratio, num(e["early_late_ratio"]), 1e-5);
    for (double h : et.entropy) {  // H ∈ [0, ln V]
      EXPECT_GE(h, 0.0);
      EXPECT_LE(h, et.max_entropy + 1e-12);
    }
  }
}

TEST(ActivationProfileGolden, ExpansionRatioMatchesTransformersAndSkdim) {
  const Json& g = act_golden()["llama"]["expansion_ratio"];
  ProbeModel pm = fixture_probe_model("llama");
  std::vector<std::string> prompts;
  for (const auto& r : g) prompts.push_back(r["prompt"].get<std::string>());
  const std::vector<ExpansionResult> rs = expansion_ratio(pm, prompts);
  ASSERT_EQ(rs.size(), g.size());
  for (size_t i = 0; i < rs.size(); ++i) {
    EXPECT_EQ(rs[i].token_count, g[i]["token_count"].get<int64_t>());
    EXPECT_EQ(rs[i].classification, g[i]["classification"].get<std::string>());
    if (rs[i].classification != "ok") {
      EXPECT_TRUE(std::isnan(rs[i].expansion_ratio));
      continue;
    }
    for (size_t l = 0; l < rs[i].layer_dims.size(); ++l)
      expect_rel(rs[i].layer_dims[l], num(g[i]["layer_dims"][l]), kActIdRelTol, str("token ID layer ", l));
    EXPECT_EQ(rs[i].peak_layer, g[i]["peak_layer"].get<int64_t>());
    expect_rel(rs[i].expansion_ratio, num(g[i]["expansion_ratio"]), 2 * kActIdRelTol, "expansion ratio");
  }
}

TEST(ActivationProfileGolden, LayerCkaBetweenTwoModelsMatchesNumpy) {
  const Json& g = act_golden()["layer_cka_llama_qwen3"];
  ProbeModel a = fixture_probe_model("llama"), b = fixture_probe_model("qwen3");
  ProbePass pa, pb;
  probe_pass(a, golden_probes(), pa);
  probe_pass(b, golden_probes(), pb);
  const LayerCka r = layer_cka(pa, {0, 1}, pb, {0, 1}, {});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j) EXPECT_NEAR(r.cka(i, j), num(g[i][j]), kActCkaAbsTol) << i << "," << j;
  // CKA of a model with itself is 1 on the diagonal.
  const LayerCka self = layer_cka(pa, {0, 1}, pa, {0, 1}, {});
  EXPECT_NEAR(self.cka(0, 0), 1.0, 1e-12);
  EXPECT_NEAR(self.cka(1, 1), 1.0, 1e-12);
  EXPECT_NEAR(self.cka(0, 1), self.cka(1, 0), 1e-12);  // symmetric
}

TEST(ActivationProfileGolden, BadInput) {
  test::TempDir d;
  test::write_bytes(d / "empty.txt", "\n  \n");
  expect_error_component([&] { probes_load(d / "empty.txt"); }, "probes", "no probes");
  expect_error_component([&] { parse_layer_list("0,40", 30); }, "cli", "layer 40 is out of range");
  expect_error_component([&] { parse_layer_list("3-1", 30); }, "cli", "empty range");
  expect_error_component([&] { parse_layer_list("x", 30); }, "cli", "not a layer index");
  EXPECT_EQ(parse_layer_list("0,2-4,2", 30), (std::vector<int64_t>{0, 2, 3, 4}));
  expect_error_component([&] { probe_model_load(test::data_path("hf/llama")); }, "probes", "no tokenizer.json");
}

TEST(CliActivationProfiles, DimensionProfileEntropyAndBadInput) {
  SKIP_UNLESS_REGISTERED("analyze dimension-profile");
  const std::string model = q(test::data_path("hf/llama"));
  const std::string common = " --tokenizer " + q(test::data_path("capacity/tok256/tokenizer.json")) + " ";
  const std::string probes = " --prompts " + q(test::data_path("capacity/probes.txt")) + " ";
  auto r = test::run_mc("analyze dimension-profile --json" + common + probes + model);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.analyze.dimension-profile.v1");
  const Json& g = act_golden()["llama"]["dimension_profile"];
  for (size_t l = 0; l < j["layer_results"].size(); ++l)
    expect_rel(j["layer_results"][l]["intrinsic_dimension"].get<double>(), num(g["layer_ids"][l]), kActIdRelTol, "cli ID");
  auto e = test::run_mc("analyze entropy-trajectory --json" + common + probes + model);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(Json::parse(e.out)["schema"], "mc.analyze.entropy-trajectory.v1");
  test::TempDir d;
  test::write_bytes(d / "empty.txt", "");
  expect_one_line_error(test::run_mc("analyze dimension-profile" + common + "--prompts " + q(d / "empty.txt") + " " + model),
                        "no probes");
  expect_one_line_error(test::run_mc("analyze dimension-profile --layers 0,2" + common + model), "layer 2 is out of range");
  expect_one_line_error(test::run_mc("analyze entropy-trajectory --layers 7" + common + model), "out of range");
  expect_one_line_error(test::run_mc("analyze dimension-profile " + model), "no tokenizer.json");
  expect_one_line_error(test::run_mc("analyze expansion-ratio" + common + model), "needs --prompt");
  // Layer-by-layer CKA between two model directories, and a directory against a file.
  auto c = test::run_mc("analyze cka --json" + common + probes + model + " " + q(test::data_path("hf/qwen3")));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  Json jc = Json::parse(c.out);
  EXPECT_EQ(jc["mode"], "models");
  EXPECT_NEAR(jc["cka"][1][1].get<double>(), num(act_golden()["layer_cka_llama_qwen3"][1][1]), kActCkaAbsTol);
  expect_one_line_error(test::run_mc("analyze cka " + model + " " + q(test::data_path("capacity/cka_a.npy"))),
                        "both be model directories");
}

// --- through the binary ------------------------------------------------------------------------------

TEST(CliCapacity, JsonMatchesGoldenForTheLlamaFixture) {
  SKIP_UNLESS_REGISTERED("model capacity");
  auto r = test::run_mc("model capacity --json --threads 1 " + q(test::data_path("hf/llama")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.model.capacity.v1");
  const Json& g = golden()["fixtures"]["llama"];
  ASSERT_EQ(j["matrices"].size(), g["matrices"].size());
  for (size_t i = 0; i < j["matrices"].size(); ++i) {  // default order: by name, as the golden
    const Json& m = j["matrices"][i];
    const Json& e = g["matrices"][i];
    EXPECT_EQ(m["name"], e["name"]);
    expect_rel(m["sigma_max"].get<double>(), num(e["sigma_max"]), kSmoothRelTol, "json σ_max");
    expect_rel(m["effective_rank"].get<double>(), num(e["effective_rank"]), kSmoothRelTol, "json erank");
    EXPECT_EQ(m["tail_dims"], e["tail_dims"]);
    expect_rel(m["alpha"]["alpha"].get<double>(), num(e["alpha"]["alpha"]), kAlphaRelTol, "json α");
  }
  expect_rel(j["summary"]["median_alpha"].get<double>(), num(g["summary"]["median_alpha"]), kAlphaRelTol, "median α");
  // Sorting and --top.
  auto s = test::run_mc("model capacity --json --sort-by alpha --top 3 " + q(test::data_path("hf/llama")));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  Json js = Json::parse(s.out);
  ASSERT_EQ(js["matrices"].size(), 3u);
  EXPECT_GE(js["matrices"][0]["alpha"]["alpha"].get<double>(), js["matrices"][1]["alpha"]["alpha"].get<double>());
  EXPECT_EQ(js["summary"]["analyzed_matrices"], 16);
  // Text mode prints the table.
  auto t = test::run_mc("model capacity " + q(test::data_path("hf/lfm2")));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("MODEL CAPACITY"), std::string::npos);
  EXPECT_NE(t.out.find("model.layers.0.conv.in_proj.weight"), std::string::npos);
}

TEST(CliCapacity, BadInput) {
  SKIP_UNLESS_REGISTERED("model capacity");
  test::TempDir d;
  expect_one_line_error(test::run_mc("model capacity " + q(d / "nope")), "no such file");
  expect_one_line_error(test::run_mc("model capacity --sort-by colour " + q(test::data_path("hf/llama"))),
                        "--sort-by must be one of");
  expect_one_line_error(test::run_mc("model capacity -m nothing " + q(test::data_path("hf/llama"))), "filters");
  expect_one_line_error(test::run_mc("model capacity --threads 0 " + q(test::data_path("hf/llama"))), "--threads");
}

TEST(CliSpectralTrajectory, JsonAndPlot) {
  SKIP_UNLESS_REGISTERED("analyze spectral-trajectory");
  test::TempDir d;
  const std::string svg = d / "t.svg";
  auto r = test::run_mc("analyze spectral-trajectory --json --plot " + q(svg) + " " + q(test::data_path("hf/llama")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.analyze.spectral-trajectory.v1");
  ASSERT_EQ(j["modules"].size(), 7u);  // q k v o gate up down
  EXPECT_EQ(j["modules"][0]["module"], "self_attn.q_proj");
  EXPECT_EQ(j["modules"][6]["module"], "mlp.down_proj");
  std::map<std::string, const Json*> gold;
  for (const auto& m : golden()["fixtures"]["llama"]["matrices"]) gold[m["name"].get<std::string>()] = &m;
  for (const auto& m : j["modules"])
    for (size_t i = 0; i < m["layers"].size(); ++i) {
      const std::string name = "model.layers." + std::to_string(m["layers"][i].get<int>()) + "." +
                               m["module"].get<std::string>() + ".weight";
      ASSERT_TRUE(gold.count(name)) << name;
      expect_rel(m["sigma_max"][i].get<double>(), num((*gold[name])["sigma_max"]), kSmoothRelTol, name);
      expect_rel(m["alpha"][i].get<double>(), num((*gold[name])["alpha"]["alpha"]), kAlphaRelTol, name);
    }
  const std::string text = test::read_bytes(svg);
  EXPECT_EQ(text.rfind("<?xml", 0), 0u);
  EXPECT_NE(text.find("</svg>"), std::string::npos);
  EXPECT_NE(text.find("self_attn.q_proj"), std::string::npos);
  // An existing plot is not replaced without --force.
  expect_one_line_error(test::run_mc("analyze spectral-trajectory --plot " + q(svg) + " " + q(test::data_path("hf/llama"))),
                        "exists");
  EXPECT_EQ(test::run_mc("analyze spectral-trajectory --force --plot " + q(svg) + " " + q(test::data_path("hf/llama")))
                .exit_code,
            0);
}

TEST(CliIntrinsicDimension, JsonMatchesSkdimAndBadFiles) {
  SKIP_UNLESS_REGISTERED("analyze intrinsic-dimension");
  for (const auto& c : golden()["intrinsic_dimension"]) {
    std::string args = q(test::data_path("capacity/" + c["file"].get<std::string>()));
    if (!c["tensor"].is_null()) args += " --tensor " + c["tensor"].get<std::string>();
    for (const char* method : {"twonn", "mle"}) {
      auto r = test::run_mc("analyze intrinsic-dimension --json --method " + std::string(method) + " " + args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      Json j = Json::parse(r.out);
      EXPECT_EQ(j["schema"], "mc.analyze.intrinsic-dimension.v1");
      expect_rel(j["intrinsic_dimension"].get<double>(), num(c[method]), kIdRelTol, args);
    }
  }
  test::TempDir d;
  test::write_bytes(d / "empty.npy", "");
  expect_one_line_error(test::run_mc("analyze intrinsic-dimension " + q(d / "empty.npy")), "empty file");
  test::write_bytes(d / "junk.npy", "this is not numpy");
  expect_one_line_error(test::run_mc("analyze intrinsic-dimension " + q(d / "junk.npy")), "bad magic");
  expect_one_line_error(test::run_mc("analyze intrinsic-dimension " + q(test::data_path("capacity/acts.safetensors"))),
                        "pick one with --tensor");
  expect_one_line_error(
      test::run_mc("analyze intrinsic-dimension --method pca " + q(test::data_path("capacity/subspace_d5.npy"))),
      "--method");
}

TEST(CliCka, JsonMatchesNumpyAndMismatchedSamples) {
  SKIP_UNLESS_REGISTERED("analyze cka");
  const Json& g = golden()["cka"];
  const std::string a = q(test::data_path("capacity/" + g["a"].get<std::string>()));
  const std::string b = q(test::data_path("capacity/" + g["b"].get<std::string>()));
  for (const auto& res : g["results"]) {
    auto r = test::run_mc("analyze cka --json --kernel " + res["kernel"].get<std::string>() + " --hsic " +
                          res["estimator"].get<std::string>() + " " + a + " " + b);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json j = Json::parse(r.out);
    EXPECT_EQ(j["schema"], "mc.analyze.cka.v1");
    expect_rel(j["cka"].get<double>(), num(res["cka"]), kCkaRelTol, "cli cka");
    expect_rel(j["hsic_xy"].get<double>(), num(res["hsic_xy"]), kCkaRelTol, "cli hsic_xy");
  }
  // CKA(X, X) = 1 through the CLI.
  auto self = test::run_mc("analyze cka --json " + a + " " + a);
  ASSERT_EQ(self.exit_code, 0) << self.err;
  EXPECT_NEAR(Json::parse(self.out)["cka"].get<double>(), 1.0, 1e-12);
  expect_one_line_error(
      test::run_mc("analyze cka " + a + " " + q(test::data_path("capacity/" + g["mismatched"].get<std::string>()))),
      "sample counts differ");
  expect_one_line_error(test::run_mc("analyze cka --kernel poly " + a + " " + b), "--kernel");
}

TEST(CliLoraSvd, JsonMatchesGoldenAndWrongBase) {
  SKIP_UNLESS_REGISTERED("analyze lora-svd");
  const Json& g = adapter_golden("adapter_llama_patterns");
  auto r = test::run_mc("analyze lora-svd --json --base " + q(test::data_path("hf/llama")) + " " +
                        q(test::data_path("capacity/adapter_llama_patterns")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.analyze.lora-svd.v1");
  EXPECT_EQ(j["layers_with_lora"], g["modules"].size());
  EXPECT_EQ(j["total_params_modified"], g["total_params"]);
  std::map<std::string, const Json*> gm;
  for (const auto& m : g["modules"]) gm[m["module"].get<std::string>()] = &m;
  for (const auto& m : j["modules"]) {
    const Json& e = *gm.at(m["module"].get<std::string>());
    expect_rel(m["delta_frobenius"].get<double>(), num(e["delta_frobenius"]), kSmoothRelTol, "cli ‖ΔW‖_F");
    expect_rel(m["left_top_overlap"].get<double>(), num(e["left_top_overlap"]), kVectorRelTol, "cli top overlap");
    EXPECT_EQ(m["intruder_dimensions"], e["intruder_dimensions"]);
  }
  // Sorted by ‖ΔW‖_F, largest first.
  for (size_t i = 1; i < j["modules"].size(); ++i)
    EXPECT_GE(j["modules"][i - 1]["delta_frobenius"].get<double>(), j["modules"][i]["delta_frobenius"].get<double>());
  expect_one_line_error(test::run_mc("analyze lora-svd --base " + q(test::data_path("hf/llama")) + " " +
                                     q(test::data_path("capacity/adapter_qwen2"))),
                        "does not fit");
  expect_one_line_error(test::run_mc("analyze lora-svd --base " + q(test::data_path("hf/lfm2")) + " " +
                                     q(test::data_path("capacity/adapter_llama"))),
                        "the base has no model.layers.0.self_attn.q_proj.weight");
  expect_one_line_error(test::run_mc("analyze lora-svd " + q(test::data_path("hf/llama"))), "no adapter_config.json");
}

TEST(CliAdapterAnalyze, WithAndWithoutBase) {
  SKIP_UNLESS_REGISTERED("adapter analyze");
  const Json& g = adapter_golden("adapter_llama");
  const std::string ad = q(test::data_path("capacity/adapter_llama"));
  auto r = test::run_mc("adapter analyze --json --base " + q(test::data_path("hf/llama")) + " " + ad);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["schema"], "mc.adapter.analyze.v1");
  EXPECT_EQ(j["lora_rank"], 4);
  EXPECT_EQ(j["trainable_parameters"], g["total_params"]);
  ASSERT_EQ(j["modules"].size(), g["modules"].size());
  for (size_t i = 0; i < j["modules"].size(); ++i) {
    const Json& m = j["modules"][i];
    const Json& e = g["modules"][i];
    EXPECT_EQ(m["module"], e["module"]);
    expect_rel(m["scale"].get<double>(), num(e["scale"]), 1e-15, "scale");
    expect_rel(m["spectral_ratio"].get<double>(), num(e["spectral_ratio"]), kSmoothRelTol, "‖ΔW‖₂/σ₁");
    expect_rel(m["weyl_utilization"].get<double>(), num(e["weyl_utilization"]), kVectorRelTol, "Weyl");
    expect_rel(m["amplification_cv"].get<double>(), num(e["amplification_cv"]), kVectorRelTol, "ampl. CV");
  }
  auto alone = test::run_mc("adapter analyze --json --no-base " + ad);
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  Json ja = Json::parse(alone.out);
  EXPECT_TRUE(ja["base_model"].is_null());
  EXPECT_FALSE(ja["modules"][0].contains("spectral_ratio"));
  expect_rel(ja["modules"][0]["delta_spectral"].get<double>(), num(g["modules"][0]["delta_spectral"]), kSmoothRelTol,
             "‖ΔW‖₂ alone");
  expect_one_line_error(test::run_mc("adapter analyze --base " + q(test::data_path("hf/mistral")) + " " + ad),
                        "does not fit");
}

}  // namespace
}  // namespace mc

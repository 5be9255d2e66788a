// Unit tests of the plan's printed forms (src/train/plan_report.cpp): the §9 text lines exactly, the
// JSON keys of every §9 section, the 15 hyperparameter rows and what plan_set_critical_batch changes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "geometry/ranks.h"
#include "train/plan.h"

namespace mc::train {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);) out.push_back(l);
  return out;
}

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

std::vector<double> decaying(int64_t full, double top) {
  std::vector<double> s;
  for (int64_t i = 0; i < full; ++i) s.push_back(top / (1.0 + 0.3 * static_cast<double>(i)));
  return s;
}

PlanAssembly sample_assembly() {
  PlanAssembly a;
  a.model_path = "/path/to/model";
  a.dataset_path = "/path/to/data.jsonl";
  a.model_hash = "ab";
  a.dataset_hash = "cd";
  a.seed = {123456789, kSeedSourceDerived};
  const std::vector<int64_t> counts = {100, 255};
  a.seq = resolve_sequence_length(counts, {}, {});
  std::vector<double> losses(512, 1.0);
  for (size_t i = 0; i < losses.size(); ++i) losses[i] += 0.3 * std::sin(0.7 * static_cast<double>(i));
  a.split = pilot_variance_split(losses, a.seed.seed);
  a.n_layers = 2;
  a.geometry.cache_status = CacheStatus::Hit;
  a.geometry.modules = {make("model.layers.0.self_attn.q_proj", 0, ProjRole::Q, decaying(64, 8.7), 64, 64),
                        make("model.layers.0.self_attn.k_proj", 0, ProjRole::K, decaying(32, 2.0), 32, 64),
                        make("model.layers.1.mlp.down_proj", 1, ProjRole::Down, decaying(64, 1.0), 64, 96)};
  return a;
}

TEST(PlanText, LinesFollowSection9) {
  const TrainingPlan p = assemble_training_plan(sample_assembly());
  const std::vector<std::string> l = lines_of(p.to_text());
  ASSERT_GE(l.size(), 14u);
  EXPECT_EQ(l[0], "Resolved training plan");
  EXPECT_EQ(l[1], "Model: /path/to/model");
  EXPECT_EQ(l[2], "Dataset: /path/to/data.jsonl");
  EXPECT_EQ(l[3], "Eval: derived split (pilot_variance)");
  EXPECT_EQ(l[4], "Seed: 123456789 (derived_from_model_dataset_hash)");
  EXPECT_EQ(l[5], "Output: /path/to/adapters/model-geometric-lora-123456789");
  EXPECT_EQ(l[6], "Seq length: 256 (data_derived_max_token_length)");
  EXPECT_EQ(l[7], "Split: pilot_variance | train=489 eval=23");
  const auto [rmin, rmax] = p.rank_range();
  EXPECT_EQ(l[8], "Target surface: 3 modules | ranks=" + std::to_string(rmin) + "-" + std::to_string(rmax) +
                      " | params~" + with_thousands(p.trainable_params));
  char buf[128];
  std::snprintf(buf, sizeof buf, "Spectral bounds: sigma_k_min=%.4e | sigma_max=%.4e | ceiling=data-rank (fallback)",
                p.ceiling.sigma_k_min, p.ceiling.sigma_max);
  EXPECT_EQ(l[9], buf);
  EXPECT_EQ(l[10], "Controller: no fixed scalar LR; MASS will choose eta_step = min(eta_ceiling, eta_sps, eta_weyl) online");
  EXPECT_EQ(l[11], "Measured during training: eta_sps, eta_weyl, eta_step, gradient-noise batch size, stopping "
                   "certificate, preservation telemetry");
  EXPECT_EQ(l[12], "Verified after training: spectral bounds, CKA, degeneration, pipeline gate, optional benchmark delta");
  EXPECT_EQ(l[13], "Benchmark: opt-in only; add --benchmark quick for pre/post task scores");
  ASSERT_EQ(l.size(), 15u);  // the sqrt_n fallback note
  EXPECT_EQ(l[14].rfind("Note: the pilot_variance rule asked for eval=", 0), 0u) << l[14];
  EXPECT_NE(l[14].find("of 512 samples; used the sqrt_n fallback"), std::string::npos) << l[14];
}

TEST(PlanText, ExplicitEvalNoSaveAndParamsSeparator) {
  PlanAssembly a = sample_assembly();
  a.eval_dataset_path = "/path/to/eval.jsonl";
  a.split = explicit_eval_split(480, 32);
  a.save = false;
  a.seed = {42, kSeedSourceUser};
  const TrainingPlan p = assemble_training_plan(a);
  const std::vector<std::string> l = lines_of(p.to_text());
  EXPECT_EQ(l[3], "Eval: /path/to/eval.jsonl");
  EXPECT_EQ(l[4], "Seed: 42 (user_supplied_override)");
  EXPECT_EQ(l[5], "Output: no adapter will be saved");
  EXPECT_EQ(l[7], "Split: explicit_eval_dataset | train=480 eval=32");
  EXPECT_EQ(l.size(), 14u);
  EXPECT_GE(p.trainable_params, 1000);
  EXPECT_NE(l[8].find("params~" + with_thousands(p.trainable_params)), std::string::npos);
  EXPECT_NE(with_thousands(p.trainable_params).find(','), std::string::npos);
}

TEST(PlanJson, HasEverySection9Key) {
  TrainingPlan p = assemble_training_plan(sample_assembly());
  const OrderedJson j = p.to_json();
  for (const char* k : {"inputs", "data_plan", "adaptation_surface", "controller_plan", "derived_now",
                        "measured_during_training", "verified_after_training", "removed_user_knobs", "hyperparameters"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const char* k : {"model_path", "dataset_path", "eval_dataset_path", "seed", "seed_source", "output_path"})
    EXPECT_TRUE(j["inputs"].contains(k)) << k;
  for (const char* k : {"seq_length", "seq_length_source", "split_method", "n_train", "n_eval", "validation_split"})
    EXPECT_TRUE(j["data_plan"].contains(k)) << k;
  for (const char* k : {"method", "n_eval", "n_train", "pilot_steps", "pilot_mean_loss", "pilot_variance", "target_se",
                        "sqrt_eps", "fallback", "requested_n_eval"})
    EXPECT_TRUE(j["data_plan"]["validation_split"].contains(k)) << k;
  EXPECT_EQ(j["data_plan"]["validation_split"]["fallback"], "sqrt_n");
  const auto& as = j["adaptation_surface"];
  for (const char* k : {"target_module_count", "target_modules", "per_module_ranks", "rank_range", "rank_ceiling_source",
                        "estimated_trainable_params", "sigma_k_min", "sigma_max", "module_geometry",
                        "signal_rank_summary"})
    EXPECT_TRUE(as.contains(k)) << k;
  ASSERT_EQ(as["module_geometry"].size(), 3u);
  for (const auto& [name, m] : as["module_geometry"].items())
    for (const char* k : {"shape", "sigma_max", "sigma_k", "effective_rank", "full_rank", "tail_dims",
                          "shannon_effective_rank", "spectral_gap", "scale_bound", "decay_scale", "adam_eps_floor",
                          "dropout_formula"})
      EXPECT_TRUE(m.contains(k)) << name << " " << k;
  for (const char* k : {"optimizer_type", "controller_mode", "optimizer_research_mode", "learning_rate_policy",
                        "batch_size_policy"})
    EXPECT_TRUE(j["controller_plan"].contains(k)) << k;
  EXPECT_EQ(j["controller_plan"]["optimizer_type"], "cayley_stiefel");
  for (const char* k : {"seed", "resolved_output_path", "sequence_length", "validation_split", "target_surface",
                        "optimizer_geometry_config", "quantization_frontier_precheck"})
    EXPECT_TRUE(j["derived_now"].contains(k)) << k;
  EXPECT_EQ(j["measured_during_training"]["controller_terms"].size(), 5u);
  EXPECT_EQ(j["measured_during_training"]["runtime_signals"].size(), 7u);
  EXPECT_EQ(j["measured_during_training"]["stopping_signals"].size(), 3u);
  EXPECT_EQ(j["verified_after_training"]["post_training_gates"].size(), 6u);
  EXPECT_EQ(j["removed_user_knobs"].size(), 8u);
  ASSERT_EQ(j["hyperparameters"].size(), 15u);
  for (const auto& row : j["hyperparameters"])
    for (const char* k : {"index", "name", "replaced_by", "value", "formula", "status", "reason"})
      EXPECT_TRUE(row.contains(k)) << k;
  // Valid JSON text with no NaN.
  const std::string text = json_dump(j);
  EXPECT_EQ(text.find("NaN"), std::string::npos);
  EXPECT_NO_THROW(json_parse(text, "plan"));
}

TEST(PlanRows, AppliedVersusReported) {
  const TrainingPlan p = assemble_training_plan(sample_assembly());
  const std::vector<HyperparameterRow> rows = p.hyperparameters();
  ASSERT_EQ(rows.size(), 15u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].index, static_cast<int>(i) + 1);
    EXPECT_TRUE(rows[i].status == "applied" || rows[i].status == "reported") << rows[i].name;
    EXPECT_FALSE(rows[i].reason.empty());
    EXPECT_FALSE(rows[i].formula.empty());
  }
  // DECISIONS.md #6: Adam ε, weight decay, dropout and residual scaling are shown, never claimed.
  for (int i : {2, 4, 13, 15}) EXPECT_EQ(rows[static_cast<size_t>(i - 1)].status, "reported") << i;
  EXPECT_EQ(rows[13].value, "A~ = B~ = 0 (dW = 0 at step 0), S = scale_bound/2");  // DECISIONS #5
  EXPECT_NE(rows[7].value.find("measured after adapter injection"), std::string::npos);
  const std::string table = p.hyperparameters_text();
  EXPECT_NE(table.find("residual scaling"), std::string::npos);
}

TEST(PlanBatch, SetCriticalBatchFillsEpochCeilingAndCap) {
  TrainingPlan p = assemble_training_plan(sample_assembly());
  CriticalBatch b;
  b.batch_size = 16;
  b.n_probe = 20;
  b.b_simple = 15.2;
  plan_set_critical_batch(p, b);
  EXPECT_EQ(p.steps_per_epoch, 31);  // ceil(489/16)
  EXPECT_DOUBLE_EQ(p.eta_ceiling, p.ceiling.eta_ceiling0 / std::sqrt(31.0));
  EXPECT_EQ(p.max_iters, 31 * kSafetyCapEpochs);
  const OrderedJson j = p.to_json();
  EXPECT_EQ(j["controller_plan"]["critical_batch"]["batch_size"], 16);
  EXPECT_EQ(j["derived_now"]["safety_cap_max_iters"], 31 * kSafetyCapEpochs);
  const std::vector<HyperparameterRow> rows = p.hyperparameters();
  EXPECT_EQ(rows[7].value.rfind("B=16 ", 0), 0u) << rows[7].value;
  EXPECT_NE(rows[0].value.find("sqrt(N_b=31)"), std::string::npos) << rows[0].value;
}

}  // namespace
}  // namespace mc::train

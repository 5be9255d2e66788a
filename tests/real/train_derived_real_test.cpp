// `mc train run` on SmolLM2-135M-Instruct: the whole zero-configuration pipeline (plan, NB-LoRA, critical
// batch, MASS steps, verification, gate, saving) on a few WordNet-style records, with the optimizer
// steps capped through the testing variable MC_TEST_MAX_STEPS so it runs in the real tier's budget.
// Checks the invariant: after the run every module satisfies ‖ΔW‖₂ ≤ σ_k(W) (spectral ratio ≤ 1
// up to the SVD's error bound), and the adapter is saved with its manifest whatever the gate says.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/json.h"
#include "test_util.h"

namespace mc {
namespace {

bool have_model() { return std::filesystem::exists(std::string(MC_REAL_MODEL_DIR) + "/config.json"); }

void write_records(const std::string& path, int first, int n) {
  static const char* words[] = {"ring", "harbor", "lantern", "meadow", "pebble", "quiver", "saddle", "thistle",
                                "anchor", "beacon", "candle", "dagger", "ember", "falcon", "garnet", "hollow",
                                "island", "jasper", "kettle", "ledger", "marble", "nectar", "orchard", "parcel"};
  std::ofstream f(path);
  for (int i = first; i < first + n; ++i) {
    const std::string w = words[i % 24];
    f << "{\"messages\": [{\"role\": \"user\", \"content\": \"What does \\\"" << w
      << "\\\" mean as a noun?\"}, {\"role\": \"assistant\", \"content\": \"A kind of " << w << " (sense " << i
      << ").\"}]}\n";
  }
}

TEST(TrainDerivedReal, WholePipelineKeepsEveryModuleInsideItsSpectralBound) {
  if (!have_model()) {
    if (std::getenv("MC_REQUIRE_REAL")) FAIL() << "real model missing: " << MC_REAL_MODEL_DIR;
    GTEST_SKIP() << "real model not present";
  }
  test::TempDir dir;
  const std::string train = dir / "train.jsonl", eval = dir / "eval.jsonl", out = dir / "out";
  write_records(train, 0, 16);
  write_records(eval, 16, 6);
  setenv("MC_TEST_MAX_STEPS", "2", 1);
  test::RunResult r = test::run_mc("train run -m " + std::string(MC_REAL_MODEL_DIR) + " -d " + train +
                                   " --eval-data " + eval + " -o " + out + " --no-geometry-cache --quiet --json");
  unsetenv("MC_TEST_MAX_STEPS");
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 4) << r.err;
  ASSERT_TRUE(std::filesystem::exists(out + "/adapter_model.safetensors"));
  ASSERT_TRUE(std::filesystem::exists(out + "/mc_manifest.json"));
  Json res = json_parse(test::read_bytes(out + "/training_result.json"), "training_result.json");
  EXPECT_TRUE(res["spectral_bounds_ok"].get<bool>());
  EXPECT_LE(res["max_spectral_ratio"].get<double>(), 1.0 + 1e-5);
  EXPECT_EQ(res["steps"].get<int64_t>(), 2);
  EXPECT_GT(res["target_module_count"].get<int64_t>(), 0);
  EXPECT_TRUE(res.contains("min_cka"));
  Json man = json_parse(test::read_bytes(out + "/mc_manifest.json"), "mc_manifest.json");
  EXPECT_EQ(man["gate"].get<std::string>(), res["pipeline_gate_passed"].get<bool>() ? "passed" : "failed");
}

}  // namespace
}  // namespace mc
